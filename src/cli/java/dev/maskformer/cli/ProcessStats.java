// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Minor page faults and CPU time of this process. */
final class ProcessStats {
  private ProcessStats() {}

  /** Minor page faults of this process, from /proc/self/stat (Linux); -1 elsewhere. */
  static long minorFaults() {
    try {
      String stat = Files.readString(Path.of("/proc/self/stat"));
      // fields after the command name, which is parenthesised and may contain spaces
      String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
      return Long.parseLong(f[7]); // field 10 of the whole line: minflt
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  /**
   * CPU time of this process so far, all threads, in ms; NaN where unknown. On a machine shared
   * with other work, wall time grows with the load, the CPU time of a single-threaded run hardly.
   */
  static double cpuMillis() {
    return ProcessHandle.current().info().totalCpuDuration().map(d -> d.toNanos() / 1e6).orElse(Double.NaN);
  }
}

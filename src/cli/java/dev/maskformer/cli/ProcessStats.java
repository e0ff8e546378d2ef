// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Minor page faults of this process, from /proc/self/stat (Linux); -1 elsewhere. */
final class ProcessStats {
  private ProcessStats() {}

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
}

// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Finds the repository folder holding models/demo (the launcher passes -Dmaskformer.home). */
final class DemoFiles {
  private DemoFiles() {}

  static Path locate() throws IOException {
    String home = System.getProperty("maskformer.home");
    if (home != null && Files.isRegularFile(Path.of(home, "models/demo/demo.pt"))) {
      return Path.of(home);
    }
    for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
      if (Files.isRegularFile(p.resolve("models/demo/demo.pt"))) {
        return p;
      }
    }
    throw new IOException("models/demo/demo.pt not found (looked in -Dmaskformer.home="
        + home + " and above " + Path.of("").toAbsolutePath() + "); run from the repository");
  }
}

// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Finds the repository folder holding models/demo (the launcher passes -Dmaskformer.home). */
final class DemoFiles {
  private DemoFiles() {}

  static Path locate() throws IOException {
    String home = System.getProperty("maskformer.home");
    if (home != null && Files.isRegularFile(Path.of(home, "models/demo/demo.pt"))) {
      return Path.of(home);
    }
    List<Path> starts = new ArrayList<>();
    starts.add(Path.of("").toAbsolutePath());
    Path jar = jarFolder();
    if (jar != null) {
      starts.add(jar);
    }
    for (Path start : starts) {
      for (Path p = start; p != null; p = p.getParent()) {
        if (Files.isRegularFile(p.resolve("models/demo/demo.pt"))) {
          return p;
        }
      }
    }
    throw new IOException("the bundled demo (models/demo/demo.pt of the source repository) was not found: looked in "
        + (home == null ? "" : "-Dmaskformer.home=" + home + ", ") + "the current folder " + starts.get(0)
        + (jar == null ? "" : " and the jar's folder " + jar) + " and the folders above them. Run"
        + " `./maskformer demo` in the repository, or pass -Dmaskformer.home=<repository>.");
  }

  /** The folder of the jar (or classes folder) this class came from, or null. */
  private static Path jarFolder() {
    try {
      Path p = Path.of(DemoFiles.class.getProtectionDomain().getCodeSource().getLocation().toURI());
      return p.getParent();
    } catch (URISyntaxException | RuntimeException e) {
      return null;
    }
  }
}

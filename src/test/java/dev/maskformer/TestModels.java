// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/** Paths of the fixtures that models/fixtures.py writes before the integration tests. */
final class TestModels {
  private TestModels() {}

  static Path dir() {
    String d = System.getProperty("maskformer.testModels", "target/test-models");
    Path p = Path.of(d);
    if (!Files.isRegularFile(p.resolve("tiny.pt"))) {
      throw new IllegalStateException("test models missing in " + p.toAbsolutePath()
          + ": run ./maskformer python models/fixtures.py --out " + d + " (mvn verify does)");
    }
    return p;
  }

  static Path tiny() {
    return dir().resolve("tiny.pt");
  }

  static Path tinyK300() {
    return dir().resolve("tiny-k300.pt");
  }

  static Path bad(String name) {
    return dir().resolve("bad").resolve(name);
  }

  static Path image(String name) {
    return dir().resolve("images").resolve(name + ".png");
  }

  static final String[] IMAGES = {
    "scene_97x61", "scene_320x256", "scene_333x517", "scene_640x480", "scene_128x128"
  };

  static int[] goldenLabels(String model, String image) throws IOException {
    ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(
        dir().resolve("golden").resolve(model).resolve(image + ".labels.i32"))).order(ByteOrder.LITTLE_ENDIAN);
    int[] out = new int[b.remaining() / 4];
    b.asIntBuffer().get(out);
    return out;
  }

  /** Golden scores, or null for images too large to keep them for. */
  static float[] goldenScores(String model, String image) throws IOException {
    Path file = dir().resolve("golden").resolve(model).resolve(image + ".scores.f32");
    if (!Files.isRegularFile(file)) {
      return null;
    }
    ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
    float[] out = new float[b.remaining() / 4];
    b.asFloatBuffer().get(out);
    return out;
  }

  static Path repoRoot() {
    return Path.of(System.getProperty("maskformer.repoRoot", "."));
  }

  static java.util.List<Path> demoSamples() throws IOException {
    try (var files = Files.list(repoRoot().resolve("models/demo/samples"))) {
      return files.filter(p -> p.toString().endsWith(".jpg")).sorted().toList();
    }
  }

  static Path demoModel() {
    Path p = repoRoot().resolve("models/demo/demo.pt");
    assumeTrue(Files.isRegularFile(p), "no bundled demo model");
    return p;
  }
}

// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.images.Images;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Models loaded from where a Java application keeps them: a stream, bytes on or off the heap, a
 * class-path resource inside a jar, a file URL; with the same results and the same refusals as a
 * file. And training checkpoints passed by mistake, which must name models/export.py.
 */
class ModelSourcesIT {
  private static long handlesBefore;
  private static int[] fromFile;

  @BeforeAll
  static void reference() throws IOException {
    handlesBefore = MaskFormerRuntime.liveNativeHandles();
    fromFile = labels(MaskFormer.load(TestModels.tiny()));
  }

  @AfterAll
  static void noHandleLeft() {
    assertEquals(handlesBefore, MaskFormerRuntime.liveNativeHandles(), "native handles leaked");
  }

  /** The labels a model gives for one fixture image; closes the model. */
  private static int[] labels(MaskFormer model) throws IOException {
    try (model; Segmentation s = Images.segment(model, TestModels.image("scene_320x256"), SegmentOptions.DEFAULTS)) {
      return s.toIntArray();
    }
  }

  @Test
  void aStreamGivesTheLabelsOfTheFile() throws IOException {
    try (InputStream in = Files.newInputStream(TestModels.tiny())) {
      MaskFormer m = MaskFormer.load(in, "tiny from a stream", LoadOptions.DEFAULTS);
      assertEquals("tiny from a stream", m.info().path());
      assertArrayEquals(fromFile, labels(m));
    }
  }

  @Test
  void aStreamThatDeliversInSmallPiecesIsReadWhole() throws IOException {
    byte[] bytes = Files.readAllBytes(TestModels.tiny());
    // 1000 bytes a read and no length known: the buffer grows many times
    InputStream trickle = new ByteArrayInputStream(bytes) {
      @Override
      public synchronized int read(byte[] b, int off, int len) {
        return super.read(b, off, Math.min(len, 1000));
      }
    };
    assertArrayEquals(fromFile, labels(MaskFormer.load(trickle, "trickle", LoadOptions.DEFAULTS)));
  }

  @Test
  void bytesOnAndOffTheHeapGiveTheLabelsOfTheFile() throws IOException {
    byte[] bytes = Files.readAllBytes(TestModels.tiny());
    assertArrayEquals(fromFile, labels(MaskFormer.load(MemorySegment.ofArray(bytes), "heap", LoadOptions.DEFAULTS)));
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment off = arena.allocate(bytes.length);
      off.copyFrom(MemorySegment.ofArray(bytes));
      MaskFormer m = MaskFormer.load(off, "off-heap", LoadOptions.DEFAULTS);
      // the bytes are read during the load only: the model works after they are overwritten
      off.fill((byte) 0);
      assertArrayEquals(fromFile, labels(m));
    }
  }

  @Test
  void aResourceInAJarGivesTheLabelsOfTheFile(@TempDir Path tmp) throws Exception {
    Path jar = tmp.resolve("app.jar");
    try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar))) {
      out.putNextEntry(new JarEntry("models/tiny.pt"));
      out.write(Files.readAllBytes(TestModels.tiny()));
      out.closeEntry();
    }
    try (URLClassLoader loader = new URLClassLoader(new URL[] {jar.toUri().toURL()}, null)) {
      URL resource = loader.getResource("models/tiny.pt");
      MaskFormer m = MaskFormer.load(resource, LoadOptions.DEFAULTS);
      assertEquals(resource.toString(), m.info().path());
      assertTrue(m.info().path().startsWith("jar:file:"), m.info().path());
      assertArrayEquals(fromFile, labels(m));
      // a missing resource is null: a clear NullPointerException, not a native failure
      NullPointerException npe = assertThrows(NullPointerException.class,
          () -> MaskFormer.load(loader.getResource("models/none.pt"), LoadOptions.DEFAULTS));
      assertTrue(npe.getMessage().contains("class-path resource"), npe.getMessage());
    }
  }

  @Test
  void aFileUrlLoadsTheFile() throws IOException {
    MaskFormer m = MaskFormer.load(TestModels.tiny().toUri().toURL(), LoadOptions.DEFAULTS);
    assertEquals(TestModels.tiny().toString(), m.info().path());
    assertArrayEquals(fromFile, labels(m));
  }

  @Test
  void anEmptyOrFailingStreamIsAModelLoadException() {
    ModelLoadException empty = assertThrows(ModelLoadException.class,
        () -> MaskFormer.load(InputStream.nullInputStream(), "nothing", LoadOptions.DEFAULTS));
    assertEquals(Status.MODEL_FORMAT, empty.status());
    assertTrue(empty.getMessage().contains("'nothing' is empty"), empty.getMessage());
    InputStream failing = new InputStream() {
      int left = 5000;

      @Override
      public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0];
      }

      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        if (left <= 0) {
          throw new IOException("the disk went away");
        }
        int n = Math.min(len, left);
        left -= n;
        return n;
      }
    };
    ModelLoadException io = assertThrows(ModelLoadException.class,
        () -> MaskFormer.load(failing, "broken", LoadOptions.DEFAULTS));
    assertEquals(Status.IO, io.status());
    assertTrue(io.getMessage().contains("the disk went away"), io.getMessage());
  }

  /** Every broken or hostile TorchScript fixture. */
  static Stream<String> brokenModels() throws IOException {
    List<String> names = new ArrayList<>();
    try (Stream<Path> files = Files.list(TestModels.dir().resolve("bad"))) {
      files.map(p -> p.getFileName().toString())
          .filter(n -> (n.endsWith(".pt") || n.endsWith(".pth")) && !n.equals("empty.pt"))
          .sorted().forEach(names::add);
    }
    assertTrue(names.size() >= 20, "fixtures missing: " + names);
    return names.stream();
  }

  /** The outcome of a load: the exception's class and status, or "loaded". */
  private static String outcome(ThrowingLoad load) {
    try {
      load.run().close();
      return "loaded";
    } catch (MaskFormerException e) {
      return e.getClass().getSimpleName() + " " + e.status();
    } catch (IOException e) {
      return "IOException";
    }
  }

  private interface ThrowingLoad {
    MaskFormer run() throws IOException;
  }

  @ParameterizedTest
  @MethodSource("brokenModels")
  void aBrokenModelFromMemoryIsRefusedAsFromItsFile(String name) throws IOException {
    Path file = TestModels.bad(name);
    byte[] bytes = Files.readAllBytes(file);
    String viaFile = outcome(() -> MaskFormer.load(file));
    String viaBytes = outcome(() -> MaskFormer.load(new ByteArrayInputStream(bytes), name, LoadOptions.DEFAULTS));
    assertEquals(viaFile, viaBytes, name);
  }

  @ParameterizedTest
  @ValueSource(strings = {"checkpoint.pth", "checkpoint-legacy.pth"})
  void aTrainingCheckpointNamesTheConverter(String name) throws IOException {
    Path file = TestModels.bad(name);
    for (ThrowingLoad load : List.<ThrowingLoad>of(() -> MaskFormer.load(file),
        () -> MaskFormer.load(MemorySegment.ofArray(Files.readAllBytes(file)), name, LoadOptions.DEFAULTS))) {
      ModelLoadException e = assertThrows(ModelLoadException.class, load::run);
      assertEquals(Status.MODEL_FORMAT, e.status());
      assertTrue(e.getMessage().contains("is a PyTorch training checkpoint"), e.getMessage());
      assertTrue(e.getMessage().contains("models/export.py --checkpoint"), e.getMessage());
    }
  }

  @Test
  void anAotiPackageLoadsFromAFileOnly() throws IOException {
    Path pt2 = TestModels.dir().resolve("tiny.pt2");
    org.junit.jupiter.api.Assumptions.assumeTrue(Files.isRegularFile(pt2), "no .pt2 fixture with this torch");
    ModelLoadException e = assertThrows(ModelLoadException.class, () -> MaskFormer.load(
        MemorySegment.ofArray(Files.readAllBytes(pt2)), "tiny.pt2", LoadOptions.DEFAULTS.withTrustedNativeCode(true)));
    assertTrue(e.getMessage().contains("loads from a file only"), e.getMessage());
  }
}

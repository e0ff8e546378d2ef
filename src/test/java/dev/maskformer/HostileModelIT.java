// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.images.Images;
import dev.maskformer.MaskFormer.Size;
import dev.maskformer.Output.LabelType;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Model files as an attacker would write them (models/fixtures.py makes them): code that loops
 * without end, outputs that are NaN, meta, sparse or integer tensors, absurd metadata, paths that
 * are not files; and a forward pass that takes long while another thread closes the model.
 */
class HostileModelIT {
  private static long handlesBefore;

  @BeforeAll
  static void baseline() {
    handlesBefore = MaskFormerRuntime.liveNativeHandles();
  }

  @AfterAll
  static void noLeaks() {
    assertEquals(handlesBefore, MaskFormerRuntime.liveNativeHandles(), "native handles leaked");
  }

  /** Each of these misbehaves in the 64x64 load probe already, or is refused before it runs. */
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
    "while-always.pt | loop without a known bound",
    "while-large.pt | loop without a known bound",
    "count-always.pt | loop without a known bound",
    "count-large.pt | loop without a known bound",
    "grown-large.pt | loop without a known bound",
    "size-large.pt | loop without a known bound",
    "nested-large.pt | nested counts multiplied",
    "fork-large.pt | forks work (prim::fork)",
    "setstate-large.pt | defines __setstate__",
    "nan-always.pt | NaN or infinity (pred_masks",
    "inf-always.pt | NaN or infinity (pred_logits",
    "meta-always.pt | pred_logits is on meta, expected cpu",
    "sparse-always.pt | pred_masks is a Sparse tensor, expected a dense one",
    "int-always.pt | pred_logits has dtype Int, expected a floating type",
    "raise-always.pt | this model refuses to run",
    "huge-long_side.pt | \"resize.long_side\" must be an integer in [1, 4096]",
    "huge-short_side.pt | \"resize.short_side\" must be an integer in [1, 4096]",
    "pickle-memo.pt | data.pkl: memo index 2147483647 in a pickle of",
    "pickle-length.pt | data.pkl: a length of 2147483632 bytes, with",
    "pickle-debug-memo.pt | .debug_pkl: memo index 1073741824 in a pickle of",
  })
  void refusedAtLoad(String file, String text) {
    var e = assertThrows(ModelLoadException.class, () -> MaskFormer.load(TestModels.bad(file)));
    assertEquals(Status.MODEL_FORMAT, e.status(), e.getMessage());
    assertTrue(e.getMessage().contains(text), e.getMessage());
    assertTrue(e.getMessage().length() < 600, e.getMessage());
  }

  /**
   * A zip directory that claims a record larger than the file is refused before LibTorch's reader
   * allocates it (a 331-byte file found by fuzz_archive claimed 587 MB; it took 4.8 GB and two
   * minutes to refuse), from a file and from memory; and an otherwise good export with one size
   * field patched likewise.
   */
  @Test
  void recordsLargerThanTheFileAreRefusedBeforeTheyAreRead(@TempDir Path dir) throws Exception {
    Path fuzzed = TestModels.repoRoot().resolve("cpp/fuzz/corpus/fuzz_archive/oversized-version-record");
    byte[] good = Files.readAllBytes(TestModels.tiny());
    byte[] patched = good.clone();
    int entry = -1;  // the first central-directory entry: PK 1 2; its uncompressed size at +24
    for (int i = 0; i + 4 < patched.length && entry < 0; i++) {
      if (patched[i] == 'P' && patched[i + 1] == 'K' && patched[i + 2] == 1 && patched[i + 3] == 2) {
        entry = i;
      }
    }
    assertTrue(entry > 0);
    patched[entry + 24] = patched[entry + 25] = patched[entry + 26] = (byte) 0xFF;
    patched[entry + 27] = 0x7F;
    Path patchedFile = Files.write(dir.resolve("patched.pt"), patched);
    for (Path file : new Path[] {fuzzed, patchedFile}) {
      for (boolean memory : new boolean[] {false, true}) {
        long t0 = System.nanoTime();
        var e = assertThrows(ModelLoadException.class, () -> {
          if (memory) {
            try (Arena arena = Arena.ofConfined()) {
              byte[] bytes = Files.readAllBytes(file);
              MemorySegment segment = arena.allocate(bytes.length);
              MemorySegment.copy(bytes, 0, segment, ValueLayout.JAVA_BYTE, 0, bytes.length);
              MaskFormer.load(segment, file.getFileName().toString(), LoadOptions.DEFAULTS).close();
            }
          } else {
            MaskFormer.load(file).close();
          }
        });
        assertEquals(Status.MODEL_FORMAT, e.status(), e.getMessage());
        assertTrue(e.getMessage().contains("bytes in a file of " + Files.size(file)), e.getMessage());
        assertTrue(System.nanoTime() - t0 < 20_000_000_000L, "took " + (System.nanoTime() - t0) / 1e9 + " s");
      }
    }
    MaskFormer.load(Files.write(dir.resolve("good.pt"), good)).close();  // the unpatched bytes load
  }

  /** These pass the probe (64 rows) and misbehave on taller inputs: the call fails, typed. */
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
    "nan-large.pt | NOT_FINITE | NaN or infinity (pred_masks",
    "inf-large.pt | NOT_FINITE | NaN or infinity (pred_logits",
    "meta-large.pt | MODEL_FORMAT | pred_logits is on meta",
    "sparse-large.pt | MODEL_FORMAT | pred_masks is a Sparse tensor",
    "int-large.pt | MODEL_FORMAT | pred_logits has dtype Int",
    "raise-large.pt | INTERNAL | this model refuses to run",
  })
  void misbehaviourAtRunTimeIsTypedAndLeavesOutputsAlone(String file, Status status, String text) throws Exception {
    try (MaskFormer m = MaskFormer.load(TestModels.bad(file));
        Arena arena = Arena.ofConfined()) {
      Frame frame = Images.read(TestModels.image("scene_320x256"), arena);
      MemorySegment labels = arena.allocate(320L * 256 * 4, 4);
      labels.fill((byte) 0x5A);
      MaskFormerException e = (MaskFormerException) assertThrows(RuntimeException.class,
          () -> m.segment(java.util.List.of(frame), java.util.List.of(Output.labels(labels, LabelType.I32)),
              SegmentOptions.DEFAULTS.withResize(false)));
      assertEquals(status, e.status(), e.getMessage());
      assertTrue(e.getMessage().contains(text), e.getMessage());
      // the call failed, not the load: a contract broken on a call is an InferenceException too
      assertTrue(e instanceof InferenceException, e.getClass().getName());
      for (long i = 0; i < labels.byteSize(); i++) {
        assertEquals((byte) 0x5A, labels.get(ValueLayout.JAVA_BYTE, i), "label byte " + i + " written");
      }
      // the model stays usable at sizes where it behaves
      try (Segmentation s = Images.segment(m, TestModels.image("scene_97x61"), SegmentOptions.DEFAULTS.withResize(false))) {
        assertEquals(97 * 61, s.toIntArray().length);
      }
    }
  }

  @Test
  void pathsThatAreNotRegularFilesNeverBlock(@TempDir Path dir) throws Exception {
    Path fifo = dir.resolve("model.pt");
    Process mk = new ProcessBuilder("mkfifo", fifo.toString()).start();
    assertEquals(0, mk.waitFor());
    CompletableFuture<Throwable> load = CompletableFuture.supplyAsync(() -> {
      try {
        MaskFormer.load(fifo).close();
        return null;
      } catch (Throwable t) {
        return t;
      }
    });
    Throwable t = load.get(30, TimeUnit.SECONDS); // a blocking open would hang here
    ModelLoadException e = assertThrowsType(ModelLoadException.class, t);
    assertEquals(Status.IO, e.status());
    assertTrue(e.getMessage().contains("is not a regular file (a FIFO)"), e.getMessage());

    var zero = assertThrows(ModelLoadException.class, () -> MaskFormer.load(Path.of("/dev/zero")));
    assertEquals(Status.IO, zero.status());
    assertTrue(zero.getMessage().contains("is not a regular file (a device)"), zero.getMessage());

    Path link = dir.resolve("link.pt");
    Files.createSymbolicLink(link, TestModels.tiny()); // a link to a file is a file
    MaskFormer.load(link).close();
  }

  /**
   * A forward pass cannot be interrupted. While one runs for seconds, close() returns within
   * its wait, later calls fail at once (even inputSize), and the native model is freed when the
   * running call returns.
   */
  @Test
  void closeDuringALongCallIsBoundedAndLaterCallsFailFast() throws Exception {
    MaskFormer m = MaskFormer.load(TestModels.bad("slow-large.pt"));
    long handlesWithModel = MaskFormerRuntime.liveNativeHandles();
    CountDownLatch started = new CountDownLatch(1);
    CompletableFuture<Integer> slow = CompletableFuture.supplyAsync(() -> {
      started.countDown();
      try (Segmentation s = Images.segment(m, TestModels.image("scene_320x256"), SegmentOptions.DEFAULTS.withResize(false))) {
        return s.toIntArray().length;
      } catch (Exception e) {
        throw new RuntimeException(e);
      }
    });
    started.await();
    // wait until the slow call is inside native code: its forward pass takes seconds
    Thread.sleep(300);
    assumeTrue(!slow.isDone(), "the slow forward pass finished before close(): machine too fast");
    boolean freed = m.close(Duration.ofMillis(200));
    assertThrows(IllegalStateException.class, () -> m.inputSize(10, 10));
    assertThrows(IllegalStateException.class, () -> Images.segment(m, TestModels.image("scene_97x61"), SegmentOptions.DEFAULTS).close());
    long handles = MaskFormerRuntime.liveNativeHandles();
    // close and the refused calls returned while the forward pass still ran: none waited for it
    assumeTrue(!slow.isDone(), "the slow forward pass finished during close(): machine too fast");
    assertFalse(freed, "freed while a call was in flight");
    assertEquals(handlesWithModel, handles, "freed under a running call");
    // the running call completes normally, and then the model is freed
    assertEquals(320 * 256, slow.get(5, TimeUnit.MINUTES));
    assertEquals(handlesWithModel - 1, MaskFormerRuntime.liveNativeHandles());
    assertTrue(m.close(Duration.ZERO), "a second close reports the model freed");
    assertTrue(m.close(ChronoUnit.FOREVER.getDuration()), "waits that overflow nanoseconds saturate");
  }

  /** Frames whose network side would round to 0 under the keep-ratio rule keep 1 pixel. */
  @ParameterizedTest
  @ValueSource(strings = {"32768x1", "4096x3", "32768x2", "1x32768", "3x4096"})
  void framesWhoseNetworkSideRoundsToZero(String size) throws Exception {
    String[] wh = size.split("x");
    int w = Integer.parseInt(wh[0]);
    int h = Integer.parseInt(wh[1]);
    try (MaskFormer m = MaskFormer.load(TestModels.tiny()); Arena arena = Arena.ofConfined()) {
      Size net = m.inputSize(w, h);
      assertTrue(net.width() >= 1 && net.height() >= 1, net.toString());
      assertTrue(net.width() <= 512 && net.height() <= 512, net.toString());
      MemorySegment pixels = arena.allocate(3L * w * h);
      for (long i = 0; i < pixels.byteSize(); i++) {
        pixels.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 31 % 251));
      }
      try (Segmentation s = m.segment(Frame.of(pixels, w, h, PixelFormat.RGB))) {
        assertEquals(w, s.width());
        assertEquals(h, s.height());
        for (int label : s.toIntArray()) {
          assertTrue(label >= 0 && label < m.numClasses(), "label " + label);
        }
      }
    }
  }

  private static <T extends Throwable> T assertThrowsType(Class<T> type, Throwable t) {
    assertTrue(type.isInstance(t), "expected " + type.getSimpleName() + ", got " + t);
    return type.cast(t);
  }
}

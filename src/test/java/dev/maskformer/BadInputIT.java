// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.images.Images;
import dev.maskformer.Output.LabelType;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Bad input gets a clear Java exception, never a crash or garbage. */
class BadInputIT {
  private static MaskFormer model;
  private static final ImageLayout LAYOUT = ImageLayout.packed(64, 48, PixelFormat.RGB);

  @BeforeAll
  static void load() {
    model = MaskFormer.load(TestModels.tiny());
  }

  @AfterAll
  static void close() {
    model.close();
  }

  @Test
  void frameFromAClosedArena() {
    Arena arena = Arena.ofShared();
    MemorySegment pixels = arena.allocate(LAYOUT.byteSize());
    Frame frame = new Frame(pixels, LAYOUT);
    arena.close();
    try (Arena out = Arena.ofConfined()) {
      Output o = Output.labels(out.allocate(LAYOUT.pixels()), LabelType.U8);
      var e = assertThrows(IllegalStateException.class, () -> model.segment(frame, o));
      assertTrue(e.getMessage().contains("closed"), e.getMessage());
      assertThrows(IllegalStateException.class, () -> model.segment(frame));
    }
  }

  @Test
  void outputFromAClosedArena() {
    try (Arena in = Arena.ofConfined()) {
      Frame frame = new Frame(in.allocate(LAYOUT.byteSize()), LAYOUT);
      Arena arena = Arena.ofShared();
      Output o = Output.labels(arena.allocate(LAYOUT.pixels()), LabelType.U8);
      arena.close();
      assertThrows(IllegalStateException.class, () -> model.segment(frame, o));
    }
  }

  @Test
  void tooSmallOutputs() {
    try (Arena a = Arena.ofConfined()) {
      Frame frame = new Frame(a.allocate(LAYOUT.byteSize()), LAYOUT);
      var e = assertThrows(IllegalArgumentException.class,
          () -> model.segment(frame, Output.labels(a.allocate(LAYOUT.pixels() - 1), LabelType.U8)));
      assertTrue(e.getMessage().contains("labels hold"), e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> model.segment(frame,
          Output.labels(a.allocate(LAYOUT.pixels()), LabelType.U8).withScores(a.allocate(100, 4))));
    }
  }

  /** Read-only memory is never written: not as labels, not as scores, not through a view. */
  @Test
  void readOnlyOutputsAreRefused() throws Exception {
    try (Arena a = Arena.ofConfined()) {
      Frame frame = new Frame(a.allocate(LAYOUT.byteSize()), LAYOUT);
      MemorySegment labels = a.allocate(LAYOUT.pixels());
      var e = assertThrows(IllegalArgumentException.class, () -> Output.labels(labels.asReadOnly(), LabelType.U8));
      assertTrue(e.getMessage().contains("read-only"), e.getMessage());
      MemorySegment scores = a.allocate(LAYOUT.pixels() * model.numClasses() * 4L, 4);
      assertThrows(IllegalArgumentException.class,
          () -> Output.labels(labels, LabelType.U8).withScores(scores.asReadOnly()));
      // another result's labels, seen read-only, stay untouched
      try (Segmentation s = model.segment(frame)) {
        byte[] before = s.labels().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        assertThrows(IllegalArgumentException.class, () -> Output.labels(s.labels(), LabelType.U8));
        assertArrayEquals(before, s.labels().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
      }
    }
  }

  /** More buffers than a downcall can take as arguments: still one call for the caller, same results. */
  @Test
  void largeBatchesWithScoresMatchSingleCalls() {
    ImageLayout small = ImageLayout.packed(24, 16, PixelFormat.RGB);
    int n = 100;
    try (Arena a = Arena.ofConfined()) {
      List<Frame> frames = new java.util.ArrayList<>();
      List<Output> outputs = new java.util.ArrayList<>();
      for (int i = 0; i < n; i++) {
        MemorySegment pixels = a.allocate(small.byteSize());
        for (long j = 0; j < pixels.byteSize(); j++) {
          pixels.set(java.lang.foreign.ValueLayout.JAVA_BYTE, j, (byte) (j * 31 + i * 7));
        }
        frames.add(new Frame(pixels, small));
        outputs.add(Output.labels(a.allocate(small.pixels()), LabelType.U8)
            .withScores(a.allocate(small.pixels() * model.numClasses() * 4L, 4)));
      }
      model.segment(frames, outputs, SegmentOptions.DEFAULTS); // 300 buffers
      for (int i = 0; i < n; i += 33) {
        try (Segmentation one = model.segment(frames.get(i), SegmentOptions.DEFAULTS.withScores(true))) {
          assertArrayEquals(one.labels().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
              outputs.get(i).labels().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), "frame " + i);
        }
      }
    }
  }

  @Test
  void mismatchedBatches() {
    try (Arena a = Arena.ofConfined()) {
      Frame frame = new Frame(a.allocate(LAYOUT.byteSize()), LAYOUT);
      assertThrows(IllegalArgumentException.class,
          () -> model.segment(List.of(frame, frame), List.of(), SegmentOptions.DEFAULTS));
      var npe = assertThrows(NullPointerException.class, () -> model.segment((Frame) null));
      assertEquals("frame", npe.getMessage());
      var out = Output.labels(a.allocate(LAYOUT.pixels()), LabelType.U8);
      assertEquals("frame", assertThrows(NullPointerException.class, () -> model.segment(null, out)).getMessage());
      assertEquals("output", assertThrows(NullPointerException.class, () -> model.segment(frame, (Output) null)).getMessage());
      model.segment(List.of(), List.of(), SegmentOptions.DEFAULTS); // nothing to do
    }
  }

  @Test
  void confinedMemoryFromAnotherThread() throws Exception {
    try (Arena a = Arena.ofConfined()) {
      Frame frame = new Frame(a.allocate(LAYOUT.byteSize()), LAYOUT);
      Output out = Output.labels(a.allocate(LAYOUT.pixels()), LabelType.U8);
      AtomicReference<Throwable> failure = new AtomicReference<>();
      Thread t = new Thread(() -> {
        try {
          model.segment(frame, out);
        } catch (Throwable e) {
          failure.set(e);
        }
      });
      t.start();
      t.join();
      assertTrue(failure.get() instanceof WrongThreadException, String.valueOf(failure.get()));
    }
  }

  @Test
  void closingAnArenaDuringACallFailsTheCloseNotTheProcess() throws Exception {
    // a large frame keeps the native call busy while another thread tries to free its memory
    ImageLayout big = ImageLayout.packed(1600, 1200, PixelFormat.RGB);
    Arena shared = Arena.ofShared();
    Frame frame = new Frame(shared.allocate(big.byteSize()), big);
    Output out = Output.labels(shared.allocate(big.pixels()), LabelType.U8);
    CountDownLatch started = new CountDownLatch(1);
    AtomicReference<Throwable> callFailure = new AtomicReference<>();
    Thread worker = new Thread(() -> {
      started.countDown();
      try {
        for (int i = 0; i < 3; i++) {
          model.segment(frame, out);
        }
      } catch (Throwable e) {
        callFailure.set(e);
      }
    });
    worker.start();
    started.await();
    boolean closeRefused = false;
    boolean closed = false;
    for (int i = 0; i < 200 && !closed; i++) {
      try {
        shared.close();
        closed = true;
      } catch (IllegalStateException e) {
        closeRefused = true; // the memory is in use by the native call: nothing was freed
        Thread.sleep(5);
      }
    }
    worker.join();
    if (!closed) {
      shared.close();
    }
    // either the close was refused while the call ran, or it won the race and the call failed
    // cleanly with an exception; never a crash, never freed memory under native code
    assertTrue(closeRefused || callFailure.get() instanceof IllegalStateException,
        "close refused: " + closeRefused + ", call failure: " + callFailure.get());
  }

  @Test
  void modelsWithMoreThan256ClassesRefuseByteLabels() throws Exception {
    try (MaskFormer k300 = MaskFormer.load(TestModels.tinyK300()); Arena a = Arena.ofConfined()) {
      Frame frame = new Frame(a.allocate(LAYOUT.byteSize()), LAYOUT);
      var e = assertThrows(IllegalArgumentException.class,
          () -> k300.segment(frame, Output.labels(a.allocate(LAYOUT.pixels()), LabelType.U8)));
      assertTrue(e.getMessage().contains("I32"), e.getMessage());
      assertThrows(IllegalArgumentException.class,
          () -> k300.segment(frame, SegmentOptions.DEFAULTS.withLabelType(LabelType.U8)));
    }
  }

  @Test
  void unreadableImageFiles() {
    var e = assertThrows(java.io.IOException.class, () -> Images.segment(model, TestModels.bad("text.pt"), SegmentOptions.DEFAULTS));
    assertTrue(e.getMessage().contains("not a readable image"), e.getMessage());
    assertThrows(java.io.IOException.class, () -> Images.segment(model, java.nio.file.Path.of("/nonexistent.png"), SegmentOptions.DEFAULTS));
  }

  @Test
  void hostMemoryIsOwnedByItsArena() {
    long before = MaskFormerRuntime.liveNativeHandles();
    MemorySegment escaped;
    try (Arena a = Arena.ofConfined()) {
      MemorySegment m = MaskFormerRuntime.allocateHost(a, 4096);
      assertEquals(4096, m.byteSize());
      assertEquals(0, m.address() % 64);
      assertEquals(before + 1, MaskFormerRuntime.liveNativeHandles());
      escaped = m;
    }
    assertEquals(before, MaskFormerRuntime.liveNativeHandles());
    assertThrows(IllegalStateException.class, () -> escaped.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0));
    assertThrows(IllegalArgumentException.class, () -> MaskFormerRuntime.allocateHost(Arena.global(), 0));
  }
}

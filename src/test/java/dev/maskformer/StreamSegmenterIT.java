// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.ImageLayout.ColorMatrix;
import dev.maskformer.ImageLayout.ColorRange;
import dev.maskformer.Output.LabelType;
import dev.maskformer.StreamSegmenter.FrameDroppedException;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * StreamSegmenter with a decoder that reuses one buffer: every frame copied once and segmented as it
 * was when submitted; LATEST_FRAME drops waiting frames for newer ones and never holds more than its
 * buffers; EVERY_FRAME segments all.
 */
class StreamSegmenterIT {
  private static MaskFormer model;
  private static final int W = 97;
  private static final int H = 61;

  @BeforeAll
  static void load() {
    model = MaskFormer.load(TestModels.tiny());
  }

  @AfterAll
  static void close() {
    model.close();
  }

  /** Frame n's content: a pattern that differs per frame. */
  private static void fill(MemorySegment pixels, long bytes, int n) {
    for (long i = 0; i < bytes; i++) {
      pixels.set(ValueLayout.JAVA_BYTE, i, (byte) ((i * 7 + n * 53 + (i / 97) * n) & 0xFF));
    }
  }

  private static int[] direct(Frame frame) {
    try (Segmentation s = model.segment(frame, SegmentOptions.DEFAULTS.withLabelType(LabelType.I32))) {
      return s.labels().toArray(ValueLayout.JAVA_INT);
    }
  }

  private static int[] labels(StreamSegmenter.Result r) {
    return r.segmentation().labels().toArray(ValueLayout.JAVA_INT);
  }

  @Test
  void everyFrameSegmentsAllFramesOfAReusedBuffer() {
    ImageLayout layout = new ImageLayout(W, H, W, PixelFormat.I420).withColor(ColorMatrix.BT709, ColorRange.LIMITED);
    SegmentOptions options = SegmentOptions.DEFAULTS.withLabelType(LabelType.I32);
    int frames = 12;
    List<int[]> expected = new ArrayList<>();
    // results are read and closed as they come: an open result holds its buffer
    List<CompletableFuture<long[]>> futures = new ArrayList<>();
    List<int[]> got = java.util.Collections.synchronizedList(new ArrayList<>(java.util.Collections.nCopies(frames, null)));
    try (Arena arena = Arena.ofShared();
        StreamSegmenter stream = StreamSegmenter.open(model, layout, StreamSegmenter.Mode.EVERY_FRAME, options, 1, 3)) {
      MemorySegment decoderBuffer = arena.allocate(layout.byteSize());
      for (int n = 0; n < frames; n++) {
        fill(decoderBuffer, layout.byteSize(), n);
        expected.add(direct(new Frame(decoderBuffer, layout)));
        // the decoder overwrites its buffer next round
        futures.add(stream.submit(decoderBuffer).thenApply(r -> {
          try (r) {
            got.set((int) r.sequence(), labels(r));
            return new long[] {r.sequence(), r.submittedNanos(), r.startedNanos(), r.finishedNanos()};
          }
        }));
      }
      for (int n = 0; n < frames; n++) {
        long[] t = futures.get(n).join();
        assertEquals(n, t[0]);
        assertArrayEquals(expected.get(n), got.get(n), "frame " + n);
        assertTrue(t[3] >= t[2] && t[2] >= t[1]);
      }
      assertEquals(frames, stream.submitted());
      assertEquals(frames, stream.completed());
      assertEquals(0, stream.dropped());
    }
  }

  @Test
  void latestFrameWinsAndNothingQueues() throws Exception {
    ImageLayout layout = ImageLayout.packed(W, H, PixelFormat.BGR);
    SegmentOptions options = SegmentOptions.DEFAULTS.withLabelType(LabelType.I32);
    int frames = 60;
    int[][] expected = new int[frames][];
    ConcurrentHashMap<Long, int[]> got = new ConcurrentHashMap<>();
    ConcurrentHashMap<Long, Boolean> copiedRight = new ConcurrentHashMap<>();
    List<CompletableFuture<Void>> done = new ArrayList<>();
    try (Arena arena = Arena.ofShared();
        StreamSegmenter stream = StreamSegmenter.open(model, layout, StreamSegmenter.Mode.LATEST_FRAME, options)) {
      MemorySegment decoderBuffer = arena.allocate(layout.byteSize());
      MemorySegment reference = arena.allocate(layout.byteSize());
      for (int n = 0; n < frames; n++) {
        fill(reference, layout.byteSize(), n);
        expected[n] = direct(new Frame(reference, layout));
      }
      for (int n = 0; n < frames; n++) {
        fill(decoderBuffer, layout.byteSize(), n);
        done.add(stream.submit(decoderBuffer).thenAccept(r -> {
          try (r) {
            got.put(r.sequence(), labels(r));
            MemorySegment check = Arena.ofAuto().allocate(layout.byteSize());
            fill(check, layout.byteSize(), (int) r.sequence());
            copiedRight.put(r.sequence(), r.frame().pixels().mismatch(check) == -1);
          }
        }));
      }
      int dropped = 0;
      for (CompletableFuture<Void> f : done) {
        try {
          f.join();
        } catch (CancellationException | CompletionException e) {
          Throwable cause = e instanceof CompletionException ? e.getCause() : e;
          assertInstanceOf(FrameDroppedException.class, cause, String.valueOf(cause));
          dropped++;
        }
      }
      assertEquals(frames, stream.submitted());
      assertEquals(dropped, stream.dropped());
      assertEquals(frames - dropped, stream.completed());
      assertTrue(dropped > 0, "60 frames submitted back to back must outrun the model");
      assertTrue(got.containsKey((long) frames - 1), "the newest frame is always segmented");
      for (var e : got.entrySet()) {
        assertArrayEquals(expected[e.getKey().intValue()], e.getValue(), "frame " + e.getKey());
        assertTrue(copiedRight.get(e.getKey()), "frame " + e.getKey() + " is the copy made at submit");
      }
      System.out.printf("StreamSegmenterIT: %d frames submitted back to back, %d segmented, %d dropped%n",
          frames, stream.completed(), stream.dropped());
    }
  }

  @Test
  void openResultsHoldBuffersAndMisuseIsRefused() {
    ImageLayout layout = ImageLayout.packed(W, H, PixelFormat.RGB);
    try (Arena arena = Arena.ofShared()) {
      MemorySegment pixels = arena.allocate(layout.byteSize());
      StreamSegmenter stream = StreamSegmenter.open(model, layout, StreamSegmenter.Mode.LATEST_FRAME,
          SegmentOptions.DEFAULTS, 1, 2);
      // two results kept open hold both buffers: the next frame has nowhere to go and is dropped
      StreamSegmenter.Result a = stream.submit(pixels).join();
      StreamSegmenter.Result b = stream.submit(pixels).join();
      CompletableFuture<StreamSegmenter.Result> third = stream.submit(pixels);
      assertTrue(third.isCancelled());
      var e = assertInstanceOf(FrameDroppedException.class, third.handle((r, t) -> t).join());
      assertTrue(e.getMessage().contains("held by open results"), e.getMessage());
      assertEquals(2, e.sequence());
      a.close();
      a.close(); // idempotent: the buffer goes back once
      stream.submit(pixels).join().close();
      b.close();
      // frames of another size, format or colours
      assertThrows(IllegalArgumentException.class,
          () -> stream.submit(new Frame(pixels, ImageLayout.packed(W - 1, H, PixelFormat.RGB))));
      assertThrows(IllegalArgumentException.class,
          () -> stream.submit(new Frame(pixels, ImageLayout.packed(W, H, PixelFormat.BGR))));
      assertThrows(IllegalArgumentException.class,
          () -> StreamSegmenter.open(model, layout, StreamSegmenter.Mode.EVERY_FRAME, SegmentOptions.DEFAULTS, 2, 2));
      // a padded source is copied row by row into the segmenter's packed layout
      ImageLayout padded = new ImageLayout(W, H, W * 3 + 5, PixelFormat.RGB);
      MemorySegment paddedPixels = arena.allocate(padded.byteSize());
      for (int r = 0; r < H; r++) {
        MemorySegment.copy(pixels, (long) r * W * 3, paddedPixels, r * (W * 3L + 5), W * 3L);
      }
      try (StreamSegmenter.Result r = stream.submit(new Frame(paddedPixels, padded)).join()) {
        assertEquals(-1, r.frame().pixels().mismatch(pixels.asSlice(0, layout.byteSize())));
      }
      stream.close();
      stream.close();
      assertThrows(IllegalStateException.class, () -> stream.submit(pixels));
    }
  }
}

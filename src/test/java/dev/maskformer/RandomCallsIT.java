// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.internal.Benchmarks;
import dev.maskformer.images.Images;
import dev.maskformer.MaskFormer.Size;
import dev.maskformer.Output.LabelType;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Seeded random calls against the public API, most of them malformed: absurd sizes and strides,
 * short, long, read-only, heap, closed and misaligned buffers, batch mismatches, closed models,
 * absurd options, interleaved with valid calls. Every call must either succeed with the result a
 * plain reference call gives, or throw exactly the documented exception for what is wrong with it
 * (docs/errors.md); nothing else. Every output buffer sits between guard bytes that must never
 * change, and a failed call leaves its outputs as they were.
 *
 * <p>{@code -Dmaskformer.randomSeed=N} repeats a run (the seed is printed),
 * {@code -Dmaskformer.randomCalls=N} sets the number of calls (default 10,000).
 */
class RandomCallsIT {
  private static final long SEED = Long.getLong("maskformer.randomSeed", new SecureRandom().nextLong());
  private static final int CALLS = Integer.getInteger("maskformer.randomCalls", 10_000);
  private static final int GUARD = 64;
  private static final int MAX = ImageLayout.MAX_SIDE;
  /** Frame sizes of the valid calls: tiny to keep 10,000 calls quick; odd and extreme shapes. */
  private static final int[][] SIZES = {{1, 1}, {2, 3}, {7, 5}, {16, 16}, {24, 17}, {33, 9}, {5, 40}, {1, 30}, {30, 1}};
  /** The documented exception types (docs/errors.md); anything else is a failure. */
  private static final List<Class<? extends Throwable>> DOCUMENTED = List.of(IllegalArgumentException.class,
      IllegalStateException.class, NullPointerException.class, IndexOutOfBoundsException.class,
      WrongThreadException.class, UnsupportedDeviceException.class, NativeOutOfMemoryException.class);

  private static MaskFormer tiny;
  private static MaskFormer k300;
  private static MaskFormer closed;
  private static final Map<String, Ref> REFS = new HashMap<>();
  private static byte[][] contents; // RGB pixels of each SIZES entry, packed

  private SplittableRandom rnd;
  private Arena arena; // renewed now and then; closed arenas are made on purpose
  private final Map<String, Integer> counts = new HashMap<>();
  private final Map<String, Double> millis = new HashMap<>();
  /** Results that accessors() reads, by content and scores. */
  private final Map<String, Segmentation> results = new HashMap<>();
  private String call; // what the current call is, for failure messages

  /** Reference labels and scores of a content, by model and resize flag (a plain valid call). */
  record Ref(int[] labels, float[] scores, int classes) {}

  @BeforeAll
  static void load() {
    System.out.printf(Locale.ROOT, "RandomCallsIT: seed %d (-Dmaskformer.randomSeed=%d), %d calls%n", SEED, SEED, CALLS);
    tiny = MaskFormer.load(TestModels.tiny());
    k300 = MaskFormer.load(TestModels.tinyK300());
    closed = MaskFormer.load(TestModels.tiny());
    closed.close();
    SplittableRandom r = new SplittableRandom(SEED ^ 0x5DEECE66DL);
    contents = new byte[SIZES.length][];
    for (int i = 0; i < SIZES.length; i++) {
      contents[i] = new byte[SIZES[i][0] * SIZES[i][1] * 3];
      for (int j = 0; j < contents[i].length; j++) {
        contents[i][j] = (byte) r.nextInt(256);
      }
    }
  }

  @AfterAll
  static void close() {
    tiny.close();
    k300.close();
  }

  @Test
  void randomCallsSucceedCorrectlyOrThrowTheDocumentedException() throws Exception {
    long handles = MaskFormerRuntime.liveNativeHandles();
    int threads = MaskFormerRuntime.info().intraOpThreads();
    rnd = new SplittableRandom(SEED);
    arena = Arena.ofShared();
    long t0 = System.nanoTime();
    try {
      for (int i = 0; i < CALLS; i++) {
        if (i % 500 == 499) {
          arena.close();
          arena = Arena.ofShared();
        }
        call = "?";
        try {
          oneCall();
        } catch (AssertionError e) {
          throw new AssertionError("call " + i + " of seed " + SEED + " (-Dmaskformer.randomSeed=" + SEED
              + "): " + call + ": " + e.getMessage(), e);
        }
      }
    } finally {
      arena.close();
      results.values().forEach(Segmentation::close);
    }
    System.out.printf(Locale.ROOT, "RandomCallsIT: %d calls in %.1f s: %s%n", CALLS, (System.nanoTime() - t0) / 1e9,
        new java.util.TreeMap<>(counts));
    StringBuilder time = new StringBuilder("RandomCallsIT: ms inside the calls by kind:");
    new java.util.TreeMap<>(millis).forEach((k, v) -> time.append(String.format(Locale.ROOT, " %s %.0f", k, v)));
    System.out.println(time);
    assertEquals(threads, MaskFormerRuntime.info().intraOpThreads(), "the thread count changed");
    assertEquals(handles, MaskFormerRuntime.liveNativeHandles(), "native handles leaked");
  }

  /**
   * Frames more than 1024 times as wide as high (or the reverse) are valid, and the keep-ratio
   * rule must still give the network at least one row and column.
   */
  @Test
  void extremeAspectRatios() {
    try (Arena a = Arena.ofConfined()) {
      ImageLayout layout = ImageLayout.packed(2000, 1, PixelFormat.RGB);
      Frame frame = new Frame(a.allocate(layout.byteSize()), layout);
      try (Segmentation s = tiny.segment(frame)) {
        assertEquals(2000, s.width());
        for (int label : s.toIntArray()) {
          assertTrue(label >= 0 && label < tiny.numClasses(), "label " + label);
        }
      }
    }
    for (int[] wh : new int[][] {{1025, 1}, {2000, 1}, {MAX, 1}, {1, MAX}, {MAX, 31}}) {
      Size s = tiny.inputSize(wh[0], wh[1]);
      assertTrue(s.width() >= 1 && s.height() >= 1 && Math.max(s.width(), s.height()) == 512, wh[0] + "x" + wh[1] + ": " + s);
    }
  }

  /**
   * A batch whose second size group fails natively (out of memory inside the forward pass): the
   * guards around every output stay untouched. The outputs themselves are unspecified after a
   * native failure (docs/errors.md): size groups run one after another, so the first group's labels
   * are already written here.
   */
  @Test
  void aBatchThatFailsNativelyWritesNothingOutsideItsOutputs() throws Exception {
    try (MaskFormer greedy = MaskFormer.load(TestModels.bad("greedy-large.pt"))) {
      rnd = new SplittableRandom(SEED);
      arena = Arena.ofShared();
      try {
        // 61 rows at their own size run; 256 rows ask the forward pass for 1 PiB
        ImageLayout small = ImageLayout.packed(97, 61, PixelFormat.RGB);
        ImageLayout large = ImageLayout.packed(320, 256, PixelFormat.RGB);
        List<Frame> frames = List.of(new Frame(arena.allocate(small.byteSize()), small),
            new Frame(arena.allocate(large.byteSize()), large));
        Buffer a = new Buffer(small.pixels(), 0, Memory.NATIVE);
        Buffer b = new Buffer(large.pixels(), 0, Memory.NATIVE);
        List<Output> outputs = List.of(Output.labels(a.segment, LabelType.U8), Output.labels(b.segment, LabelType.U8));
        call = "greedy batch";
        expect(Set.of(NativeOutOfMemoryException.class),
            () -> greedy.segment(frames, outputs, SegmentOptions.DEFAULTS.withResize(false)));
        a.check("the small frame's labels", false);
        b.check("the large frame's labels", false);
        boolean smallWritten = MemorySegment.mismatch(a.segment, 0, a.segment.byteSize(),
            MemorySegment.ofArray(patternOf(a.slab.byteSize())), a.offset, a.offset + a.segment.byteSize()) >= 0;
        System.out.println("RandomCallsIT: after a failed batch the other size group's labels were "
            + (smallWritten ? "written" : "untouched"));
      } finally {
        arena.close();
      }
    }
  }

  private void oneCall() throws Exception {
    // weights keep the valid calls that run the network (the slow ones) to about a third
    int p = rnd.nextInt(100);
    if (p < 18) {
      zeroCopy(1);
    } else if (p < 24) {
      zeroCopy(rnd.nextInt(6));
    } else if (p < 30) {
      allocating();
    } else if (p < 41) {
      layout();
    } else if (p < 53) {
      inputSize();
    } else if (p < 63) {
      frameAndOutputRecords();
    } else if (p < 71) {
      accessors();
    } else if (p < 79) {
      values();
    } else if (p < 86) {
      processWide();
    } else if (p < 89) {
      benchmarks();
    } else if (p < 90) {
      warmup();
    } else if (p < 92) {
      bufferedImage();
    } else if (p < 96) {
      async();
    } else {
      layout();
    }
  }

  // ------------------------------------------------------------------------------------------
  // outcomes

  /** Runs {@code body}: no exception if {@code expected} is empty, else one of its types. */
  private Throwable expect(Set<Class<? extends Throwable>> expected, ThrowingRunnable body) throws Exception {
    String kind = call.split(" ", 2)[0];
    Throwable caught = null;
    long t0 = System.nanoTime();
    try {
      body.run();
    } catch (AssertionError e) {
      throw e;
    } catch (Throwable t) {
      caught = t;
    }
    Throwable thrown = caught;
    millis.merge(kind, (System.nanoTime() - t0) / 1e6, Double::sum);
    if (thrown == null) {
      counts.merge(kind + " ok", 1, Integer::sum);
      if (!expected.isEmpty()) {
        throw new AssertionError("succeeded, expected one of " + names(expected));
      }
      return null;
    }
    counts.merge(kind + " " + thrown.getClass().getSimpleName(), 1, Integer::sum);
    if (DOCUMENTED.stream().noneMatch(c -> c.isInstance(thrown))) {
      throw new AssertionError("threw an undocumented " + thrown, thrown);
    }
    if (expected.isEmpty()) {
      throw new AssertionError("a valid call threw " + thrown, thrown);
    }
    if (expected.stream().noneMatch(c -> c.isInstance(thrown))) {
      throw new AssertionError("threw " + thrown + ", expected one of " + names(expected), thrown);
    }
    if (!(thrown instanceof NullPointerException)) {
      String m = thrown.getMessage();
      assertTrue(m != null && m.length() > 10, "no clear message: " + thrown);
    }
    return thrown;
  }

  interface ThrowingRunnable {
    void run() throws Exception;
  }

  private static String names(Set<Class<? extends Throwable>> set) {
    return set.stream().map(Class::getSimpleName).toList().toString();
  }

  private static final Class<? extends Throwable> IAE = IllegalArgumentException.class;
  private static final Class<? extends Throwable> ISE = IllegalStateException.class;
  private static final Class<? extends Throwable> NPE = NullPointerException.class;

  // ------------------------------------------------------------------------------------------
  // buffers between guard bytes

  /** Where a buffer lives; all but NATIVE and READ_ONLY_VIEW are refused for outputs. */
  enum Memory { NATIVE, SHARED, HEAP, CLOSED, CLOSED_LATER, READ_ONLY_VIEW }

  /** A segment of {@code size} bytes at {@code misalign} past a 64-byte boundary, guarded. */
  final class Buffer {
    final MemorySegment slab;
    final MemorySegment segment;
    final long offset;
    final Memory memory;
    private byte[] snapshot; // what the slab must hold: the pattern, or the frame written into it

    /** Takes the slab's bytes as they are now as what it must keep holding. */
    void seal() {
      if (memory != Memory.CLOSED && memory != Memory.CLOSED_LATER) {
        snapshot = slab.toArray(ValueLayout.JAVA_BYTE);
      }
    }

    Buffer(long size, int misalign, Memory memory) {
      this.memory = memory;
      this.offset = GUARD + misalign;
      long total = offset + size + GUARD;
      Arena owner = switch (memory) {
        case CLOSED -> Arena.ofConfined();
        case SHARED, CLOSED_LATER -> Arena.ofShared();
        default -> arena;
      };
      if (memory == Memory.HEAP) {
        slab = MemorySegment.ofArray(new byte[Math.toIntExact(total)]);
      } else {
        slab = owner.allocate(total, 64);
      }
      MemorySegment.copy(MemorySegment.ofArray(patternOf(total)), 0, slab, 0, total);
      snapshot = memory == Memory.HEAP ? null : slab.toArray(ValueLayout.JAVA_BYTE);
      MemorySegment s = slab.asSlice(offset, size);
      segment = memory == Memory.READ_ONLY_VIEW ? s.asReadOnly() : s;
      if (memory == Memory.CLOSED) {
        owner.close();
      } else if (memory == Memory.SHARED) {
        sharedArenas.add(owner);
      } else if (memory == Memory.CLOSED_LATER) {
        closeLater.add(owner);
      }
    }

    /** The guard bytes are untouched; with {@code untouched}, the whole buffer is. */
    void check(String what, boolean untouched) {
      if (memory == Memory.CLOSED || memory == Memory.CLOSED_LATER) {
        return;
      }
      long end = offset + segment.byteSize();
      long[][] ranges = untouched ? new long[][] {{0, slab.byteSize()}}
          : new long[][] {{0, offset}, {end, slab.byteSize()}};
      MemorySegment want = snapshot == null ? null : MemorySegment.ofArray(snapshot);
      for (long[] r : ranges) {
        if (want != null && MemorySegment.mismatch(slab, r[0], r[1], want, r[0], r[1]) < 0) {
          continue;
        }
        for (long i = r[0]; i < r[1]; i++) {
          if (slab.get(ValueLayout.JAVA_BYTE, i) != (want == null ? pattern(i) : snapshot[(int) i])) {
            String where = i < offset ? (offset - i) + " bytes before" : i >= end ? (i - end) + " bytes after"
                : "at byte " + (i - offset) + " of";
            throw new AssertionError(what + (untouched ? " (of a failed call) written " : " guard written ")
                + where + " the buffer of " + segment.byteSize() + " bytes");
          }
        }
      }
    }
  }

  private final List<Arena> sharedArenas = new ArrayList<>();
  /** Arenas of records that are made while alive and closed just before the call. */
  private final List<Arena> closeLater = new ArrayList<>();

  private void closeLaterArenas() {
    closeLater.forEach(Arena::close);
    closeLater.clear();
  }

  private static byte pattern(long i) {
    return (byte) (i * 131 + 77);
  }

  private static byte[] patternBytes = new byte[0];

  /** At least {@code n} bytes of the pattern. */
  private static byte[] patternOf(long n) {
    if (patternBytes.length < n) {
      patternBytes = new byte[Math.toIntExact(Math.max(n, 2L * patternBytes.length))];
      for (int i = 0; i < patternBytes.length; i++) {
        patternBytes[i] = pattern((long) i);
      }
    }
    return patternBytes;
  }

  private Memory memory(int badPercent, boolean allowReadOnly) {
    if (rnd.nextInt(100) >= badPercent) {
      return rnd.nextInt(8) == 0 ? Memory.SHARED : Memory.NATIVE;
    }
    Memory[] bad = allowReadOnly ? new Memory[] {Memory.HEAP, Memory.CLOSED, Memory.CLOSED_LATER, Memory.READ_ONLY_VIEW}
        : new Memory[] {Memory.HEAP, Memory.CLOSED, Memory.CLOSED_LATER};
    return bad[rnd.nextInt(bad.length)];
  }

  /** A size near {@code need}: mostly exact or larger, sometimes short. */
  private long sizeNear(long need, int shortPercent) {
    if (rnd.nextInt(100) < shortPercent) {
      return Math.max(0, need - 1 - (rnd.nextBoolean() ? 0 : rnd.nextLong(Math.max(1, need))));
    }
    return need + (rnd.nextBoolean() ? 0 : rnd.nextInt(1, 40));
  }

  // ------------------------------------------------------------------------------------------
  // frames

  /** A frame of content {@code c} in some format and stride, with what is wrong with it. */
  record Case(Frame frame, int content, Set<Class<? extends Throwable>> faults, Buffer pixels) {}

  private Case frame(int badPercent) {
    int c = rnd.nextInt(SIZES.length);
    int w = SIZES[c][0];
    int h = SIZES[c][1];
    PixelFormat format = PixelFormat.values()[rnd.nextInt(4)];
    int ch = format.channels();
    long stride = (long) w * ch;
    int pick = rnd.nextInt(10);
    if (pick < 3) {
      stride += rnd.nextInt(1, 70);
    } else if (pick == 3 && h == 1) {
      stride = rnd.nextBoolean() ? 1L << 62 : Long.MAX_VALUE; // one row: the stride is never used
    }
    ImageLayout layout = new ImageLayout(w, h, stride, format);
    Set<Class<? extends Throwable>> faults = new LinkedHashSet<>();
    Memory memory = memory(badPercent / 2, true); // read-only frames are fine: they are only read
    long size = sizeNear(layout.byteSize(), badPercent / 3);
    if (size < layout.byteSize()) {
      faults.add(IAE);
    }
    if (memory == Memory.HEAP) {
      faults.add(IAE);
    }
    Set<Class<? extends Throwable>> build = new LinkedHashSet<>(faults);
    if (memory == Memory.CLOSED) {
      build.add(ISE);
    }
    faults.addAll(build);
    if (memory == Memory.CLOSED_LATER) {
      faults.add(ISE);
    }
    Buffer b = new Buffer(size, rnd.nextInt(4), memory);
    if (memory != Memory.CLOSED) {
      MemorySegment target = b.slab.asSlice(b.offset, size);
      byte[] rgb = contents[c];
      boolean bgr = format == PixelFormat.BGR || format == PixelFormat.BGRA;
      for (int y = 0; y < h && (long) y * stride < size; y++) {
        for (int x = 0; x < w; x++) {
          long at = y * stride + (long) x * ch;
          if (at + ch > size) {
            break;
          }
          int s = (y * w + x) * 3;
          target.set(ValueLayout.JAVA_BYTE, at, rgb[s + (bgr ? 2 : 0)]);
          target.set(ValueLayout.JAVA_BYTE, at + 1, rgb[s + 1]);
          target.set(ValueLayout.JAVA_BYTE, at + 2, rgb[s + (bgr ? 0 : 2)]);
          if (ch == 4) {
            target.set(ValueLayout.JAVA_BYTE, at + 3, (byte) rnd.nextInt(256)); // alpha is ignored
          }
        }
      }
      b.seal();
    }
    Frame frame = null;
    if (build.isEmpty()) {
      frame = new Frame(b.segment, layout);
    } else {
      try {
        expectQuietly(build, () -> new Frame(b.segment, layout));
      } catch (Exception e) {
        throw new AssertionError(e);
      }
    }
    return new Case(frame, c, faults, b);
  }

  /** As {@link #expect}, for steps that build arguments (counted under "build"). */
  private void expectQuietly(Set<Class<? extends Throwable>> expected, ThrowingRunnable body) throws Exception {
    String saved = call;
    call = "build " + saved;
    try {
      expect(expected, body);
    } finally {
      call = saved;
    }
  }

  private Ref ref(MaskFormer model, int content, boolean resize) {
    String key = (model == tiny ? "tiny" : "k300") + "/" + content + "/" + resize;
    return REFS.computeIfAbsent(key, k -> {
      int w = SIZES[content][0];
      int h = SIZES[content][1];
      try (Arena a = Arena.ofConfined()) {
        MemorySegment pixels = a.allocate(contents[content].length);
        MemorySegment.copy(contents[content], 0, pixels, ValueLayout.JAVA_BYTE, 0, contents[content].length);
        try (Segmentation s = model.segment(Frame.of(pixels, w, h, PixelFormat.RGB),
            SegmentOptions.DEFAULTS.withLabelType(LabelType.I32).withScores(true).withResize(resize))) {
          float[] scores = s.scores().orElseThrow().toArray(ValueLayout.JAVA_FLOAT);
          return new Ref(s.toIntArray(), scores, model.numClasses());
        }
      }
    });
  }

  /** Labels equal the reference, but for pixels whose two best reference scores tie. */
  private static void checkLabels(Ref ref, int[] labels, String what) {
    assertEquals(ref.labels().length, labels.length, what + " length");
    int pixels = labels.length;
    for (int i = 0; i < pixels; i++) {
      if (labels[i] != ref.labels()[i]) {
        float a = ref.scores()[ref.labels()[i] * pixels + i];
        float b = labels[i] >= 0 && labels[i] < ref.classes() ? ref.scores()[labels[i] * pixels + i] : Float.NaN;
        if (!(Math.abs(a - b) <= 1e-4f)) {
          throw new AssertionError(what + ": label " + labels[i] + " at pixel " + i + ", reference "
              + ref.labels()[i] + " (scores " + a + ", " + b + ")");
        }
      }
    }
  }

  private static void checkScores(Ref ref, MemorySegment scores, String what) {
    float[] got = scores.asSlice(0, ref.scores().length * 4L).toArray(ValueLayout.JAVA_FLOAT);
    for (int i = 0; i < got.length; i++) {
      if (!(Math.abs(got[i] - ref.scores()[i]) <= 1e-4f)) {
        throw new AssertionError(what + ": score " + got[i] + " at " + i + ", reference " + ref.scores()[i]);
      }
    }
  }

  private static int[] labelsOf(MemorySegment labels, LabelType type, int pixels) {
    int[] out = new int[pixels];
    for (int i = 0; i < pixels; i++) {
      out[i] = type == LabelType.U8 ? Byte.toUnsignedInt(labels.get(ValueLayout.JAVA_BYTE, i))
          : labels.get(ValueLayout.JAVA_INT_UNALIGNED, 4L * i);
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------
  // the calls

  private MaskFormer model() {
    int p = rnd.nextInt(20);
    return p == 0 ? closed : p < 4 ? k300 : tiny;
  }

  /** An output for a frame of content c with guards, and what is wrong with it. */
  record Out(Output output, Buffer labels, Buffer scores, Set<Class<? extends Throwable>> faults, LabelType type) {}

  private Out output(int content, MaskFormer model, int badPercent) throws Exception {
    int pixels = SIZES[content][0] * SIZES[content][1];
    LabelType type = rnd.nextBoolean() ? LabelType.U8 : LabelType.I32;
    Set<Class<? extends Throwable>> faults = new LinkedHashSet<>();
    Set<Class<? extends Throwable>> build = new LinkedHashSet<>();
    Memory lm = memory(badPercent / 2, true);
    int misalign = rnd.nextInt(4) == 0 ? rnd.nextInt(1, 4) : 0;
    Buffer labels = new Buffer(sizeNear((long) pixels * type.bytes(), badPercent / 3), misalign, lm);
    if (labels.segment.byteSize() < (long) pixels * type.bytes()) {
      faults.add(IAE);
    }
    if (type == LabelType.U8 && model.numClasses() > 256) {
      faults.add(IAE);
    }
    addMemoryFaults(build, lm);
    if (lm == Memory.CLOSED_LATER) {
      faults.add(ISE);
    }
    if (type == LabelType.I32 && misalign != 0) {
      build.add(IAE);
    }
    Buffer scores = null;
    if (rnd.nextInt(3) == 0) {
      Memory sm = memory(badPercent / 2, true);
      int smis = rnd.nextInt(5) == 0 ? rnd.nextInt(1, 4) : 0;
      long need = (long) pixels * model.numClasses() * 4;
      scores = new Buffer(sizeNear(need, badPercent / 3), smis, sm);
      if (scores.segment.byteSize() < need) {
        faults.add(IAE);
      }
      addMemoryFaults(build, sm);
      if (sm == Memory.CLOSED_LATER) {
        faults.add(ISE);
      }
      if (smis != 0) {
        build.add(IAE);
      }
    }
    Output[] made = new Output[1];
    Buffer sb = scores;
    ThrowingRunnable make = () -> {
      Output o = Output.labels(labels.segment, type);
      made[0] = sb == null ? o : o.withScores(sb.segment);
    };
    if (build.isEmpty()) {
      make.run();
    } else {
      expectQuietly(build, make);
    }
    faults.addAll(build);
    return new Out(made[0], labels, scores, faults, type);
  }

  private static void addMemoryFaults(Set<Class<? extends Throwable>> faults, Memory m) {
    if (m == Memory.HEAP || m == Memory.READ_ONLY_VIEW) {
      faults.add(IAE);
    } else if (m == Memory.CLOSED) {
      faults.add(ISE);
    }
  }

  /** segment(frames, outputs, options): the zero-copy call, n frames (n == 1: the one-frame call). */
  private void zeroCopy(int n) throws Exception {
    MaskFormer model = model();
    boolean resize = rnd.nextInt(6) == 0; // the network at the frame's own size is the quick case
    int bad = rnd.nextInt(3) == 0 ? 60 : 5;
    List<Case> cases = new ArrayList<>();
    List<Out> outs = new ArrayList<>();
    Set<Class<? extends Throwable>> faults = new LinkedHashSet<>();
    for (int i = 0; i < n; i++) {
      Case c = i > 0 && rnd.nextInt(4) == 0 ? cases.get(rnd.nextInt(i)) : frame(bad); // repeated frames are fine
      cases.add(c);
      Out o = output(c.content(), model, bad);
      outs.add(o);
      faults.addAll(c.faults());
      faults.addAll(o.faults());
    }
    if (model == closed) {
      faults.add(ISE); // also for an empty batch: any use after close() is refused
    }
    List<Frame> frames = new ArrayList<>(cases.stream().map(Case::frame).toList());
    List<Output> outputs = new ArrayList<>(outs.stream().map(Out::output).toList());
    if (n > 0 && frames.contains(null) || outputs.contains(null)) {
      faults.add(NPE); // a record that could not be made is passed as null
    }
    int mangle = rnd.nextInt(30);
    if (mangle == 0) {
      outputs.add(outputs.isEmpty() ? null : outputs.get(0));
      faults.clear();
      faults.add(IAE);
    } else if (mangle == 1 && !frames.isEmpty()) {
      frames.remove(frames.size() - 1);
      faults.clear();
      faults.add(IAE);
    }
    SegmentOptions options = SegmentOptions.DEFAULTS.withResize(resize);
    boolean nullOptions = rnd.nextInt(40) == 0;
    if (nullOptions) {
      faults.add(NPE);
    }
    call = "zeroCopy " + n + " frames, model " + (model == closed ? "closed" : model.numClasses() + " classes")
        + ", resize " + resize + ", faults " + names(faults) + ", " + describe(cases, outs);
    boolean single = n == 1 && frames.size() == 1 && outputs.size() == 1 && resize && !nullOptions && rnd.nextBoolean();
    closeLaterArenas();
    Throwable t = expect(faults, () -> {
      if (single) {
        model.segment(frames.get(0), outputs.get(0));
      } else {
        model.segment(frames, outputs, nullOptions ? null : options);
      }
    });
    for (int i = 0; i < outs.size(); i++) {
      Out o = outs.get(i);
      o.labels().check("output " + i + " labels", t != null);
      if (o.scores() != null) {
        o.scores().check("output " + i + " scores", t != null);
      }
    }
    for (Case c : cases) {
      c.pixels().check("frame pixels", true); // inputs are never written
    }
    if (t == null) {
      for (int i = 0; i < n; i++) {
        Ref ref = ref(model, cases.get(i).content(), resize);
        Out o = outs.get(i);
        checkLabels(ref, labelsOf(o.labels().segment, o.type(), ref.labels().length), "output " + i);
        if (o.scores() != null) {
          checkScores(ref, o.scores().segment, "output " + i);
        }
      }
    }
    closeShared();
  }

  private void closeShared() {
    sharedArenas.forEach(Arena::close);
    sharedArenas.clear();
  }

  private static String describe(List<Case> cases, List<Out> outs) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < cases.size(); i++) {
      Case c = cases.get(i);
      Out o = outs.get(i);
      b.append("[frame ").append(c.frame() == null ? "null (" + c.pixels().memory + ", "
          + c.pixels().segment.byteSize() + " B)" : c.frame().layout() + " " + c.pixels().memory)
          .append(", labels ").append(o.type()).append(' ').append(o.labels().memory).append(' ')
          .append(o.labels().segment.byteSize()).append(" B +").append(o.labels().offset - GUARD);
      if (o.scores() != null) {
        b.append(", scores ").append(o.scores().memory).append(' ').append(o.scores().segment.byteSize())
            .append(" B +").append(o.scores().offset - GUARD);
      }
      b.append(']');
    }
    return b.toString();
  }

  /** segment(frame(s), options): results allocated by the library. */
  private void allocating() throws Exception {
    MaskFormer model = model();
    int n = rnd.nextInt(4) == 0 ? rnd.nextInt(4) : 1;
    boolean resize = rnd.nextInt(6) == 0;
    LabelType type = switch (rnd.nextInt(3)) {
      case 0 -> null;
      case 1 -> LabelType.U8;
      default -> LabelType.I32;
    };
    boolean scores = rnd.nextInt(3) == 0;
    SegmentOptions options = new SegmentOptions(type, scores, resize);
    List<Case> cases = new ArrayList<>();
    Set<Class<? extends Throwable>> faults = new LinkedHashSet<>();
    for (int i = 0; i < n; i++) {
      Case c = frame(rnd.nextInt(3) == 0 ? 50 : 4);
      cases.add(c);
      faults.addAll(c.faults());
      if (c.frame() == null) {
        faults.add(NPE);
      }
    }
    if (type == LabelType.U8 && model.numClasses() > 256 && n > 0) {
      faults.add(IAE);
    }
    if (model == closed) {
      faults.add(ISE);
    }
    closeLaterArenas();
    call = "allocating " + n + " frames, options " + options + ", model "
        + (model == closed ? "closed" : model.numClasses()) + ", faults " + names(faults);
    List<Segmentation> results = new ArrayList<>();
    Throwable t = expect(faults, () -> {
      if (n == 1 && rnd.nextBoolean()) {
        results.add(model.segment(cases.get(0).frame(), options));
      } else {
        results.addAll(model.segment(cases.stream().map(Case::frame).toList(), options));
      }
    });
    try {
      if (t == null) {
        assertEquals(n, results.size());
        for (int i = 0; i < n; i++) {
          Segmentation s = results.get(i);
          Ref ref = ref(model, cases.get(i).content(), resize);
          LabelType want = type != null ? type : LabelType.forClasses(model.numClasses());
          assertEquals(want, s.labelType());
          assertEquals(SIZES[cases.get(i).content()][0], s.width());
          assertEquals(scores, s.scores().isPresent());
          checkLabels(ref, s.toIntArray(), "result " + i);
          if (scores) {
            checkScores(ref, s.scores().orElseThrow(), "result " + i);
          }
        }
      }
    } finally {
      results.forEach(Segmentation::close);
    }
    for (Case c : cases) {
      c.pixels().check("frame pixels", true);
    }
    closeShared();
  }

  private int absurdInt() {
    return switch (rnd.nextInt(12)) {
      case 0 -> 0;
      case 1 -> -1;
      case 2 -> Integer.MIN_VALUE;
      case 3 -> Integer.MAX_VALUE;
      case 4 -> MAX;
      case 5 -> MAX + 1;
      case 6 -> -rnd.nextInt(1, 1 << 20);
      case 7 -> rnd.nextInt(MAX + 1, Integer.MAX_VALUE);
      default -> rnd.nextInt(1, 100);
    };
  }

  private long absurdLong(long near) {
    return switch (rnd.nextInt(12)) {
      case 0 -> 0;
      case 1 -> -1;
      case 2 -> Long.MIN_VALUE;
      case 3 -> Long.MAX_VALUE;
      case 4 -> 1L << 62;
      case 5 -> near - 1;
      case 6 -> near;
      case 7 -> near + rnd.nextInt(1, 1000);
      case 8 -> (1L << 62) + rnd.nextInt(1 << 20);
      case 9 -> Long.MAX_VALUE / Math.max(1, rnd.nextInt(1, 40000));
      default -> near + rnd.nextInt(-3, 64);
    };
  }

  /** ImageLayout and ImageLayout.packed with any values: refused exactly as documented. */
  private void layout() throws Exception {
    int w = absurdInt();
    int h = absurdInt();
    PixelFormat format = rnd.nextInt(25) == 0 ? null : PixelFormat.values()[rnd.nextInt(4)];
    int ch = format == null ? 3 : format.channels();
    long stride = absurdLong((long) Math.max(0, w) * ch);
    Set<Class<? extends Throwable>> faults = new LinkedHashSet<>();
    boolean packed = rnd.nextInt(4) == 0;
    if (format == null) {
      faults.add(NPE);
    } else {
      if (w < 1 || w > MAX || h < 1 || h > MAX) {
        faults.add(IAE);
      }
      long s = packed ? (long) w * ch : stride;
      if (s < (long) w * ch) {
        faults.add(IAE);
      }
      BigInteger span = BigInteger.valueOf(h - 1L).multiply(BigInteger.valueOf(s)).add(BigInteger.valueOf((long) w * ch));
      if (span.bitLength() > 63) {
        faults.add(IAE);
      }
    }
    call = "layout " + w + "x" + h + " stride " + (packed ? "packed" : stride) + " " + format + ", faults " + names(faults);
    ImageLayout[] made = new ImageLayout[1];
    Throwable t = expect(faults, () -> made[0] = packed ? ImageLayout.packed(w, h, format)
        : new ImageLayout(w, h, stride, format));
    if (t == null) {
      ImageLayout l = made[0];
      assertEquals((h - 1L) * l.stride() + (long) w * ch, l.byteSize());
      assertEquals((long) w * h, l.pixels());
      if (l.byteSize() <= 4096 && rnd.nextBoolean()) {
        // small enough to back with memory: a frame of it segments like any other, or says why not
        MemorySegment pixels = arena.allocate(l.byteSize());
        Frame f = new Frame(pixels, l);
        MemorySegment labels = arena.allocate(l.pixels());
        Set<Class<? extends Throwable>> none = Set.of();
        call = "layout frame " + l;
        expect(none, () -> tiny.segment(List.of(f), List.of(Output.labels(labels, LabelType.U8)),
            SegmentOptions.DEFAULTS.withResize(rnd.nextBoolean())));
      }
    }
  }

  /** inputSize with any values: the keep-ratio rule, or IllegalArgumentException. */
  private void inputSize() throws Exception {
    MaskFormer model = model();
    int w0 = rnd.nextInt(3) == 0 ? absurdInt() : rnd.nextInt(1, MAX + 1);
    int h0 = rnd.nextInt(3) == 0 ? absurdInt() : rnd.nextBoolean() ? rnd.nextInt(1, 64) : rnd.nextInt(1, MAX + 1);
    if (w0 >= 1 && h0 >= 1 && w0 <= MAX && h0 <= MAX && Math.max(w0, h0) > 1024L * Math.min(w0, h0)) {
      h0 = Math.max(h0, (w0 + 1023) / 1024); // ratios past 1024:1 are extremeAspectRatios' case
      w0 = Math.max(w0, (h0 + 1023) / 1024);
    }
    int w = w0;
    int h = h0;
    Set<Class<? extends Throwable>> faults = new LinkedHashSet<>();
    if (w < 1 || w > MAX || h < 1 || h > MAX) {
      faults.add(IAE);
    }
    if (model == closed) {
      faults.add(ISE);
    }
    call = "inputSize " + w + "x" + h + " on " + (model == closed ? "closed" : model.numClasses()) + ", faults " + names(faults);
    Size[] got = new Size[1];
    Throwable t = expect(faults, () -> got[0] = model.inputSize(w, h));
    if (t == null) {
      // the checkpoint's rule: scale so that the long side <= 512 and the short side <= 128
      double scale = Math.min(512.0 / Math.max(w, h), 128.0 / Math.min(w, h));
      int ew = Math.max(1, (int) (w * scale + 0.5));
      int eh = Math.max(1, (int) (h * scale + 0.5));
      assertEquals(new Size(ew, eh), got[0]);
    }
  }

  /** Frame and Output records with any memory: checks as documented. */
  private void frameAndOutputRecords() throws Exception {
    ImageLayout layout = ImageLayout.packed(rnd.nextInt(1, 50), rnd.nextInt(1, 50), PixelFormat.values()[rnd.nextInt(4)]);
    Memory m = Memory.values()[rnd.nextInt(Memory.values().length)];
    long size = sizeNear(layout.byteSize(), 30);
    Buffer b = new Buffer(size, rnd.nextInt(4), m);
    Set<Class<? extends Throwable>> faults = new LinkedHashSet<>();
    boolean output = rnd.nextBoolean();
    LabelType type = rnd.nextBoolean() ? LabelType.U8 : LabelType.I32;
    if (output) {
      addMemoryFaults(faults, m);
      if (type == LabelType.I32 && b.segment.address() % 4 != 0) {
        faults.add(IAE);
      }
    } else {
      if (m == Memory.HEAP || size < layout.byteSize()) {
        faults.add(IAE);
      }
      if (m == Memory.CLOSED) {
        faults.add(ISE);
      }
    }
    boolean nulls = rnd.nextInt(20) == 0;
    if (nulls) {
      faults.add(NPE);
    }
    call = (output ? "record Output " + type : "record Frame " + layout) + " on " + m + " " + size + " B, faults " + names(faults);
    expect(faults, () -> {
      if (output) {
        Output.labels(nulls ? null : b.segment, type);
      } else {
        new Frame(b.segment, nulls ? null : layout);
      }
    });
    b.check("record buffer", true);
    closeShared();
    closeLaterArenas();
  }

  /** Accessors of a result: indices out of range, scores that were not asked for, use after close. */
  private void accessors() throws Exception {
    int c = rnd.nextInt(SIZES.length);
    int w = SIZES[c][0];
    int h = SIZES[c][1];
    boolean scores = rnd.nextBoolean();
    boolean closedResult = rnd.nextInt(5) == 0;
    String key = c + "/" + scores;
    Segmentation s = closedResult ? null : results.get(key);
    if (s == null) {
      MemorySegment pixels = arena.allocate(contents[c].length);
      MemorySegment.copy(contents[c], 0, pixels, ValueLayout.JAVA_BYTE, 0, contents[c].length);
      s = tiny.segment(Frame.of(pixels, w, h, PixelFormat.RGB),
          SegmentOptions.DEFAULTS.withScores(scores).withResize(false));
      if (closedResult) {
        s.close();
      } else {
        results.put(key, s);
      }
    }
    Segmentation result = s;
    Ref ref = ref(tiny, c, false);
    int x = rnd.nextInt(3) == 0 ? absurdInt() : rnd.nextInt(w);
    int y = rnd.nextInt(3) == 0 ? absurdInt() : rnd.nextInt(h);
    int label = rnd.nextInt(3) == 0 ? absurdInt() : rnd.nextInt(tiny.numClasses());
    boolean score = rnd.nextBoolean();
    Set<Class<? extends Throwable>> faults = new LinkedHashSet<>();
    if (x < 0 || x >= w || y < 0 || y >= h || score && (label < 0 || label >= tiny.numClasses())) {
      faults.add(IndexOutOfBoundsException.class);
    }
    if (score && !scores) {
      faults.add(ISE);
    }
    if (closedResult) {
      faults.add(ISE);
    }
    call = "accessor " + (score ? "score(" + label + ", " : "label(") + x + ", " + y + ") of " + w + "x" + h
        + (closedResult ? " closed" : "") + (scores ? " with scores" : "") + ", faults " + names(faults);
    float[] got = new float[1];
    Throwable t = expect(faults, () -> got[0] = score ? result.score(label, x, y) : result.label(x, y));
    if (t == null) {
      int i = y * w + x;
      assertEquals(score ? ref.scores()[label * w * h + i] : ref.labels()[i], got[0], 1e-4, call);
    }
  }

  /** Size, Size.parse, Device, Device.parse, LoadOptions, SegmentOptions with any values. */
  private void values() throws Exception {
    int w = absurdInt();
    int h = absurdInt();
    Set<Class<? extends Throwable>> faults = new LinkedHashSet<>();
    switch (rnd.nextInt(5)) {
      case 0 -> {
        if (w < 1 || w > MAX || h < 1 || h > MAX) {
          faults.add(IAE);
        }
        call = "Size " + w + "x" + h;
        expect(faults, () -> assertEquals(w + "x" + h, new Size(w, h).toString()));
      }
      case 1 -> {
        String[] texts = {w + "x" + h, " " + w + "X" + h + " ", w + "x", "x" + h, w + "x" + h + "x1", "", "axb",
            w + "x" + h + "0000000000"};
        String text = texts[rnd.nextInt(texts.length)];
        Size expected = null;
        try {
          String[] p = text.trim().toLowerCase(Locale.ROOT).split("x");
          if (p.length == 2) {
            int pw = Integer.parseInt(p[0]);
            int ph = Integer.parseInt(p[1]);
            if (pw >= 1 && pw <= MAX && ph >= 1 && ph <= MAX) {
              expected = new Size(pw, ph);
            }
          }
        } catch (NumberFormatException e) {
          expected = null;
        }
        if (expected == null) {
          faults.add(IAE);
        }
        Size want = expected;
        call = "Size.parse '" + text + "'";
        expect(faults, () -> assertEquals(want, Size.parse(text)));
      }
      case 2 -> {
        String[] texts = {"cpu", "CPU ", "cuda", "gpu", "cuda:" + w, "cuda:", "cuda:x", "tpu", "", "cuda:-1"};
        String text = texts[rnd.nextInt(texts.length)];
        String t = text.trim().toLowerCase(Locale.ROOT);
        boolean ok = t.equals("cpu") || t.equals("cuda") || t.equals("gpu") || t.startsWith("cuda:") && t.substring(5).matches("\\d+")
            && w >= 0;
        if (!ok) {
          faults.add(IAE);
        }
        call = "Device.parse '" + text + "'";
        expect(faults, () -> Device.parse(text));
      }
      case 3 -> {
        if (w < -1) {
          faults.add(IAE);
        }
        call = "Device " + w;
        expect(faults, () -> assertEquals(w < 0, new Device(w).isCpu()));
      }
      default -> {
        if (w < 0 || h < 0) {
          faults.add(IAE);
        }
        call = "LoadOptions threads " + w + " async " + h;
        expect(faults, () -> LoadOptions.DEFAULTS.withIntraOpThreads(w).withAsyncThreads(h));
      }
    }
  }

  /** Process-wide setters and loading with absurd values: refused before anything changes. */
  private void processWide() throws Exception {
    int max = MaskFormerRuntime.info().maxThreads();
    Set<Class<? extends Throwable>> faults = new LinkedHashSet<>();
    switch (rnd.nextInt(4)) {
      case 0 -> {
        int n = rnd.nextBoolean() ? absurdInt() : rnd.nextBoolean() ? max + 1 : 0;
        boolean valid = n >= 1 && n <= max;
        int now = MaskFormerRuntime.info().intraOpThreads();
        int value = valid ? now : n; // valid counts would change the process: set the current one
        call = "setIntraOpThreads " + value;
        if (!(value >= 1 && value <= max)) {
          faults.add(IAE);
        }
        expect(faults, () -> MaskFormerRuntime.setIntraOpThreads(value));
        assertEquals(now, MaskFormerRuntime.info().intraOpThreads());
      }
      case 1 -> {
        long bytes = rnd.nextBoolean() ? -rnd.nextLong(1, Long.MAX_VALUE) : Long.MIN_VALUE;
        faults.add(IAE);
        call = "setHostCacheLimit " + bytes;
        expect(faults, () -> MaskFormerRuntime.setHostCacheLimit(bytes));
      }
      case 2 -> {
        long bytes = switch (rnd.nextInt(6)) {
          case 0 -> 0;
          case 1 -> -rnd.nextLong(1, Long.MAX_VALUE);
          case 2 -> Long.MAX_VALUE;
          case 3 -> 1L << 62;
          default -> rnd.nextLong(1, 1 << 16);
        };
        if (bytes <= 0) {
          faults.add(IAE);
        } else if (bytes > 1L << 40) {
          faults.add(IAE);
          faults.add(NativeOutOfMemoryException.class);
        }
        call = "allocateHost " + bytes + ", faults " + names(faults);
        MemorySegment[] got = new MemorySegment[1];
        Throwable t = expect(faults, () -> got[0] = MaskFormerRuntime.allocateHost(arena, bytes));
        if (t == null) {
          assertEquals(bytes, got[0].byteSize());
          assertEquals(0, got[0].address() % 64);
          got[0].fill((byte) 1);
        }
      }
      default -> {
        int n = rnd.nextBoolean() ? -rnd.nextInt(1, 1000) : max + rnd.nextInt(1, 1000);
        faults.add(IAE);
        call = "load with intraOpThreads " + n;
        expect(faults, () -> MaskFormer.load(TestModels.tiny(), LoadOptions.DEFAULTS.withIntraOpThreads(n)).close());
      }
    }
  }

  /** benchmarkForward and matmulGflops with any values (valid ones kept tiny). */
  private void benchmarks() throws Exception {
    Set<Class<? extends Throwable>> faults = new LinkedHashSet<>();
    if (rnd.nextBoolean()) {
      MaskFormer model = model();
      int batch = rnd.nextInt(3) == 0 ? absurdInt() : rnd.nextInt(1, 3);
      int iters = rnd.nextInt(3) == 0 ? absurdInt() : 1;
      if (batch < 1 || batch > 1024 || iters < 1 || iters > 100_000) {
        faults.add(IAE);
      }
      if (faults.isEmpty() && model != closed) {
        batch = Math.min(batch, 2);
        iters = Math.min(iters, 2);
      }
      if (model == closed) {
        faults.add(ISE);
      }
      int b = batch;
      int it = iters;
      call = "benchmarkForward 8x8 batch " + b + " iters " + it + ", faults " + names(faults);
      double[][] got = new double[1][];
      if (expect(faults, () -> got[0] = Benchmarks.forward(model, 8, 8, b, it)) == null) {
        assertEquals(it, got[0].length);
      }
    } else {
      int n = rnd.nextBoolean() ? absurdInt() : rnd.nextBoolean() ? 63 : 64;
      int iters = rnd.nextBoolean() ? absurdInt() : 1;
      Precision p = Precision.values()[rnd.nextInt(Precision.values().length)];
      Device d = rnd.nextInt(4) == 0 ? Device.cuda(rnd.nextInt(3)) : Device.CPU;
      boolean argsBad = n < 64 || n > 8192 || iters < 1 || iters > 1000;
      if (argsBad) {
        faults.add(IAE);
      }
      if (d.isCuda() && MaskFormerRuntime.cudaDeviceCount() <= d.index() || p == Precision.FP16 && d.isCpu()
          || p == Precision.BF16 && d.isCpu() && !MaskFormerRuntime.info().cpuNativeBf16()) {
        faults.add(UnsupportedDeviceException.class);
      }
      if (!argsBad && faults.isEmpty()) {
        n = 64;
        iters = 1;
      }
      int nn = n;
      int it = iters;
      call = "matmulGflops " + d + " " + p + " n " + nn + " iters " + it + ", faults " + names(faults);
      double[] got = new double[1];
      if (expect(faults, () -> got[0] = Benchmarks.matmulGflops(d.index(), p.code(), nn, it)) == null) {
        assertTrue(got[0] > 0, "GFLOP/s " + got[0]);
      }
    }
  }

  /** warmup with any sizes (valid ones small). */
  private void warmup() throws Exception {
    MaskFormer model = model();
    int n = rnd.nextInt(3);
    Size[] sizes = new Size[n];
    Set<Class<? extends Throwable>> faults = new LinkedHashSet<>();
    for (int i = 0; i < n; i++) {
      if (rnd.nextInt(6) == 0) {
        sizes[i] = null;
        faults.add(NPE);
      } else {
        sizes[i] = new Size(rnd.nextInt(1, 12), rnd.nextInt(1, 12));
      }
    }
    boolean nullArray = rnd.nextInt(30) == 0;
    if (nullArray) {
      faults.clear();
      faults.add(NPE);
    }
    if (model == closed) {
      faults.add(ISE);
    }
    call = "warmup " + Arrays.toString(sizes) + (nullArray ? " (null array)" : "") + ", faults " + names(faults);
    expect(faults, () -> model.warmup(nullArray ? null : sizes));
  }

  /** segment(BufferedImage) of every image type: the pixels a BGR copy of the image gives. */
  private void bufferedImage() throws Exception {
    int[] types = {BufferedImage.TYPE_3BYTE_BGR, BufferedImage.TYPE_4BYTE_ABGR, BufferedImage.TYPE_INT_RGB,
        BufferedImage.TYPE_INT_ARGB, BufferedImage.TYPE_INT_BGR, BufferedImage.TYPE_USHORT_565_RGB,
        BufferedImage.TYPE_BYTE_GRAY, BufferedImage.TYPE_USHORT_GRAY, BufferedImage.TYPE_BYTE_INDEXED};
    int type = types[rnd.nextInt(types.length)];
    int c = rnd.nextInt(SIZES.length);
    int w = SIZES[c][0];
    int h = SIZES[c][1];
    boolean translated = rnd.nextBoolean(); // a sub-image's raster is offset: the converting path
    BufferedImage image = new BufferedImage(translated ? w + 3 : w, translated ? h + 2 : h, type);
    int dx = translated ? 2 : 0;
    int dy = translated ? 1 : 0;
    byte[] rgb = contents[c];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int s = (y * w + x) * 3;
        image.setRGB(x + dx, y + dy, 0xFF000000 | (rgb[s] & 0xFF) << 16 | (rgb[s + 1] & 0xFF) << 8 | (rgb[s + 2] & 0xFF));
      }
    }
    BufferedImage use = translated ? image.getSubimage(dx, dy, w, h) : image;
    // what the image holds after its type's quantisation, as packed BGR: the reference frame
    BufferedImage bgr = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
    bgr.getGraphics().drawImage(use, 0, 0, null);
    call = "bufferedImage type " + type + " " + use.getWidth() + "x" + use.getHeight() + (translated ? " (sub-image)" : "");
    boolean lossless = type == BufferedImage.TYPE_3BYTE_BGR || type == BufferedImage.TYPE_4BYTE_ABGR
        || type == BufferedImage.TYPE_INT_RGB || type == BufferedImage.TYPE_INT_ARGB || type == BufferedImage.TYPE_INT_BGR;
    Segmentation[] got = new Segmentation[2];
    expect(Set.of(), () -> {
      got[0] = Images.segment(tiny, use, SegmentOptions.DEFAULTS.withResize(false));
      if (!lossless) {
        got[1] = Images.segment(tiny, bgr, SegmentOptions.DEFAULTS.withResize(false));
      }
    });
    try {
      if (lossless) {
        checkLabels(ref(tiny, c, false), got[0].toIntArray(), call); // the content exactly
      } else {
        assertTrue(Arrays.equals(got[1].toIntArray(), got[0].toIntArray()), call + ": labels differ from the BGR copy's");
      }
    } finally {
      got[0].close();
      if (got[1] != null) {
        got[1].close();
      }
    }
  }

  /** segmentAsync: results as the sync call; confined frames fail in the future, not the caller. */
  private void async() throws Exception {
    boolean confined = rnd.nextInt(4) == 0;
    int c = rnd.nextInt(SIZES.length);
    int w = SIZES[c][0];
    int h = SIZES[c][1];
    try (Arena own = confined ? Arena.ofConfined() : Arena.ofShared()) {
      MemorySegment pixels = own.allocate(contents[c].length);
      MemorySegment.copy(contents[c], 0, pixels, ValueLayout.JAVA_BYTE, 0, contents[c].length);
      Frame frame = Frame.of(pixels, w, h, PixelFormat.RGB);
      Buffer labels = new Buffer((long) w * h * 4, 0, Memory.SHARED);
      Output out = Output.labels(labels.segment, LabelType.I32);
      boolean zeroCopy = rnd.nextBoolean();
      call = "async " + (zeroCopy ? "zero-copy " : "") + w + "x" + h + (confined ? " confined" : "");
      Throwable failure = null;
      Segmentation s = null;
      try {
        if (zeroCopy) {
          tiny.segmentAsync(frame, out).get(1, TimeUnit.MINUTES);
        } else {
          CompletableFuture<Segmentation> f = tiny.segmentAsync(frame, SegmentOptions.DEFAULTS.withResize(false));
          s = f.get(1, TimeUnit.MINUTES);
        }
      } catch (ExecutionException e) {
        failure = e.getCause();
      }
      counts.merge("async " + (failure == null ? "ok" : failure.getClass().getSimpleName()), 1, Integer::sum);
      if (confined) {
        assertTrue(failure instanceof WrongThreadException, "expected WrongThreadException, got " + failure);
        labels.check("async labels", true);
      } else {
        assertEquals(null, failure, "a valid async call failed");
        labels.check("async labels", !zeroCopy);
        checkLabels(ref(tiny, c, zeroCopy), zeroCopy ? labelsOf(labels.segment, LabelType.I32, w * h) : s.toIntArray(), call);
      }
      if (s != null) {
        s.close();
      }
      closeShared();
    }
  }
}

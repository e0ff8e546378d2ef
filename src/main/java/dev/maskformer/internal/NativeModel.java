// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.internal;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.maskformer.internal.ffi.maskformer_h;
import dev.maskformer.internal.ffi.mf_image;
import dev.maskformer.internal.ffi.mf_load_options;
import dev.maskformer.internal.ffi.mf_model_info;
import dev.maskformer.internal.ffi.mf_output;
import dev.maskformer.internal.ffi.mf_plane;
import dev.maskformer.internal.ffi.mf_segment_info;
import dev.maskformer.internal.ffi.mf_segment_options;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * Owner of one native {@code mf_model} handle.
 *
 * <p>Thread-safety: all methods may be called concurrently. {@link #close(long)} makes later
 * calls fail at once with {@link IllegalStateException}, then waits a bounded time for calls in
 * flight; the handle is freed by whichever comes last: the close, or the last call in flight
 * returning (a call that never returns keeps it).
 *
 * <p>Ownership: the handle is bound to a shared arena whose cleanup runs {@code mf_model_free};
 * closing the arena is the only way the handle is freed, and it happens only with no call in
 * flight.
 */
public final class NativeModel implements AutoCloseable {
  /** What mf_model_get_info and the metadata accessors report, copied into Java objects. */
  public record Facts(
      String variant,
      int numClasses,
      int numQueries,
      int device,
      int precision,
      int resizeLong,
      int resizeShort,
      int formatVersion,
      double[] mean,
      double[] std,
      List<String> classNames,
      int[] palette,
      String metadataJson,
      String cpuRewrites) {}

  /** mf_model_segment invokers by the number of buffers kept alive as trailing arguments. */
  private static final ConcurrentHashMap<Integer, maskformer_h.mf_model_segment> INVOKERS =
      new ConcurrentHashMap<>();

  private final Arena owner = Arena.ofShared();
  private final Object life = new Object(); // guards inFlight, closed and freed
  private int inFlight;
  private boolean closed;
  private boolean freed;
  private final MemorySegment handle;
  private final String name;
  private final Facts facts;

  private NativeModel(MemorySegment raw, String name) {
    this.handle = raw.reinterpret(0, owner, maskformer_h::mf_model_free);
    this.name = name;
    this.facts = readFacts();
  }

  /** What mf_load_options carries; {@code device} is -1 for the CPU, {@code precision} an mf_precision. */
  public record Options(
      int device, int precision, int intraOpThreads, boolean jitOptimize, boolean allowNativeCode, int cpuRewrites) {}

  /** Loads a model file. */
  public static NativeModel load(Path path, Options options) {
    String file = path.toString();
    return load(options, file, (call, opts, out) -> maskformer_h.mf_model_load(call.allocateFrom(file), opts, out));
  }

  /**
   * Loads a TorchScript export from off-heap bytes, read during the call only. {@code name}
   * stands for the model in messages.
   */
  public static NativeModel load(MemorySegment bytes, String name, Options options) {
    if (!bytes.isNative()) {
      throw new IllegalArgumentException("model bytes must be off-heap (native) memory: " + bytes);
    }
    if (bytes.byteSize() == 0) {
      throw new IllegalArgumentException("model '" + name + "' is empty (0 bytes)");
    }
    return load(options, name, (call, opts, out) ->
        maskformer_h.mf_model_load_memory(bytes, bytes.byteSize(), call.allocateFrom(name), opts, out));
  }

  private interface Loader {
    int call(Arena call, MemorySegment opts, MemorySegment out);
  }

  private static NativeModel load(Options o, String name, Loader loader) {
    NativeLibrary.ensureLoaded();
    if (o.intraOpThreads() != 0) {
      NativeRuntime.checkThreads(o.intraOpThreads(), "intraOpThreads");
    }
    try (Arena call = Arena.ofConfined()) {
      MemorySegment opts = mf_load_options.allocate(call); // zeroed: the defaults are set below
      mf_load_options.struct_size(opts, (int) mf_load_options.sizeof());
      mf_load_options.device(opts, o.device());
      mf_load_options.precision(opts, o.precision());
      mf_load_options.intra_op_threads(opts, o.intraOpThreads());
      mf_load_options.jit_optimize(opts, o.jitOptimize() ? 1 : 0);
      mf_load_options.allow_native_code(opts, o.allowNativeCode() ? 1 : 0);
      mf_load_options.cpu_rewrites(opts, o.cpuRewrites());
      MemorySegment out = call.allocate(ADDRESS);
      NativeStatus.check(loader.call(call, opts, out), "load", name);
      MemorySegment raw = out.get(ADDRESS, 0);
      try {
        return new NativeModel(raw, name);
      } catch (RuntimeException e) {
        maskformer_h.mf_model_free(raw);
        throw e;
      }
    }
  }

  /** Milliseconds of each forward pass alone at a network size (benchmarks). */
  public double[] benchmarkForward(int width, int height, int batch, int iters) {
    enter();
    try {
      return NativeRuntime.benchmarkForward(handle, width, height, batch, iters);
    } finally {
      exit();
    }
  }

  public Facts facts() {
    return facts;
  }

  /** The CPU rewrites in force now (mf_model_info.cpu_rewrites): the outcome once they are done. */
  public String cpuRewrites() {
    enter();
    try (Arena call = Arena.ofConfined()) {
      return readCpuRewrites(call);
    } finally {
      exit();
    }
  }

  /**
   * Blocks until the CPU rewrites made in the background are done (mf_model_await_cpu_rewrites),
   * then returns their outcome (read in the same call: a close meanwhile cannot hide it).
   */
  public String awaitCpuRewrites() {
    enter();
    try (Arena call = Arena.ofConfined()) {
      NativeStatus.check(maskformer_h.mf_model_await_cpu_rewrites(handle), "await CPU rewrites", name);
      return readCpuRewrites(call);
    } finally {
      exit();
    }
  }

  /** mf_model_info.cpu_rewrites now; the caller has entered. */
  private String readCpuRewrites(Arena call) {
    MemorySegment info = mf_model_info.allocate(call);
    mf_model_info.struct_size(info, (int) mf_model_info.sizeof());
    NativeStatus.check(maskformer_h.mf_model_get_info(handle, info), "model info", name);
    return rewritesText(mf_model_info.cpu_rewrites(info));
  }

  private static String rewritesText(MemorySegment text) {
    return text.equals(MemorySegment.NULL) ? "none" : text.reinterpret(Long.MAX_VALUE).getString(0);
  }

  /** mf_model_format: 0 TorchScript, 1 AOTInductor package. */
  public int format() {
    enter();
    try (Arena call = Arena.ofConfined()) {
      MemorySegment out = call.allocate(JAVA_INT);
      NativeStatus.check(maskformer_h.mf_model_format(handle, out), "model format", name);
      return out.get(JAVA_INT, 0);
    } finally {
      exit();
    }
  }

  public String name() {
    return name;
  }

  private Facts readFacts() {
    try (Arena call = Arena.ofConfined()) {
      MemorySegment info = mf_model_info.allocate(call);
      mf_model_info.struct_size(info, (int) mf_model_info.sizeof());
      NativeStatus.check(maskformer_h.mf_model_get_info(handle, info), "model info", name);
      int k = mf_model_info.num_classes(info);
      double[] mean = new double[3];
      double[] std = new double[3];
      for (int i = 0; i < 3; i++) {
        mean[i] = mf_model_info.mean(info, i);
        std[i] = mf_model_info.std(info, i);
      }
      MemorySegment variant = mf_model_info.variant(info);
      String variantName = variant.equals(MemorySegment.NULL) ? "" : variant.reinterpret(Long.MAX_VALUE).getString(0);
      String rewritesText = rewritesText(mf_model_info.cpu_rewrites(info));
      List<String> names = new ArrayList<>(k);
      MemorySegment namePtr = call.allocate(ADDRESS);
      for (int i = 0; i < k; i++) {
        NativeStatus.check(maskformer_h.mf_model_class_name(handle, i, namePtr), "class name", name);
        names.add(namePtr.get(ADDRESS, 0).reinterpret(Long.MAX_VALUE).getString(0));
      }
      MemorySegment rgb = call.allocate(3L * k);
      NativeStatus.check(maskformer_h.mf_model_palette(handle, rgb, rgb.byteSize()), "palette", name);
      int[] palette = new int[k];
      for (int i = 0; i < k; i++) {
        int r = Byte.toUnsignedInt(rgb.get(JAVA_BYTE, 3L * i));
        int g = Byte.toUnsignedInt(rgb.get(JAVA_BYTE, 3L * i + 1));
        int b = Byte.toUnsignedInt(rgb.get(JAVA_BYTE, 3L * i + 2));
        palette[i] = (r << 16) | (g << 8) | b;
      }
      MemorySegment jsonPtr = call.allocate(ADDRESS);
      MemorySegment length = call.allocate(JAVA_LONG);
      NativeStatus.check(maskformer_h.mf_model_metadata_json(handle, jsonPtr, length), "metadata", name);
      String json = jsonPtr.get(ADDRESS, 0).reinterpret(Long.MAX_VALUE).getString(0);
      return new Facts(
          variantName,
          k,
          mf_model_info.num_queries(info),
          mf_model_info.device(info),
          mf_model_info.precision(info),
          mf_model_info.resize_long(info),
          mf_model_info.resize_short(info),
          mf_model_info.format_version(info),
          mean,
          std,
          List.copyOf(names),
          palette,
          json,
          rewritesText);
    }
  }

  /** (width, height) of the network input for a frame of this size. */
  public int[] inputSize(int width, int height) {
    enter();
    try (Arena call = Arena.ofConfined()) {
      MemorySegment w = call.allocate(JAVA_INT);
      MemorySegment h = call.allocate(JAVA_INT);
      NativeStatus.check(
          maskformer_h.mf_model_input_size(handle, width, height, w, h), "input size", name);
      return new int[] {w.get(JAVA_INT, 0), h.get(JAVA_INT, 0)};
    } finally {
      exit();
    }
  }

  /**
   * A frame as the C ABI takes it: its pixels (a YUV frame's Y plane), size, row stride, and the
   * mf_pixel_format, mf_yuv_matrix and mf_yuv_range codes, and a YUV frame's chroma planes.
   */
  public record Image(MemorySegment pixels, int width, int height, long stride, int format, int matrix, int range,
      List<Plane> chroma) {}

  /** A chroma plane: the segment that holds it, where in it the plane starts, its row stride. */
  public record Plane(MemorySegment segment, long offset, long stride) {}

  /**
   * Where one frame's results go (checked by the caller for sizes): labels of an mf_label_type;
   * scores, region ids and confidence (of an mf_confidence_type) may be null.
   */
  public record Out(MemorySegment labels, int labelType, MemorySegment scores, MemorySegment regionIds,
      MemorySegment confidence, int confidenceType) {}

  /**
   * mf_segment_options: the resize, the mf_semantic_rule with its overlap threshold, whether
   * regions (mf_segment_info) are made, and their thresholds.
   */
  public record Rules(boolean resize, int semanticRule, double iterativeOverlap, boolean regions,
      double objectThreshold, double overlapThreshold, boolean mergeSameClass) {}

  /** One region of a frame (an mf_segment_info), its box as x, y, width, height. */
  public record Region(int id, int classIndex, float score, long area, int x, int y, int width, int height,
      int query) {}

  /**
   * Segments frames into outputs (already checked for sizes by the caller) in mf_model_segment.
   * Every buffer is passed to the downcall as an argument, so no arena can free it while native
   * code reads or writes it. Returns each frame's regions when {@code rules} asks for them (else
   * empty lists); {@code context} names the frames in messages and is asked for on a failure only.
   */
  public List<List<Region>> segment(List<Image> images, List<Out> outputs, Rules rules,
      Supplier<String> context) {
    enter();
    try {
      // a downcall takes at most 255 arguments: batches with more buffers go in several calls,
      // each as large as the limit allows (frames sharing one buffer count it once)
      if (7 * images.size() <= MAX_KEPT_BUFFERS) { // the usual case: one call, nothing to count
        return segmentChunk(images, outputs, rules, context);
      }
      List<List<Region>> all = new ArrayList<>(images.size());
      int from = 0;
      while (from < images.size()) {
        Set<MemorySegment> buffers = Collections.newSetFromMap(new IdentityHashMap<>());
        int to = from;
        while (to < images.size()) {
          Image image = images.get(to);
          buffers.add(image.pixels());
          image.chroma().forEach(p -> buffers.add(p.segment()));
          Out o = outputs.get(to);
          for (MemorySegment m : new MemorySegment[] {o.labels(), o.scores(), o.regionIds(), o.confidence()}) {
            if (m != null) {
              buffers.add(m);
            }
          }
          if (buffers.size() > MAX_KEPT_BUFFERS && to > from) {
            break;
          }
          to++;
        }
        all.addAll(segmentChunk(images.subList(from, to), outputs.subList(from, to), rules, context));
        from = to;
      }
      return all;
    } finally {
      exit();
    }
  }

  /** Buffers one downcall may keep alive as arguments: the JVM allows 255 argument slots in all, and
   * each segment takes two (measured: 120 buffers need 258). */
  static final int MAX_KEPT_BUFFERS = 100;

  private List<List<Region>> segmentChunk(List<Image> images, List<Out> outputs, Rules rules,
      Supplier<String> context) {
    int n = images.size();
    try (Arena call = Arena.ofConfined()) { // zeroed memory: every field not set is its default
      MemorySegment imageArray = mf_image.allocateArray(n, call);
      MemorySegment outs = mf_output.allocateArray(n, call);
      Set<MemorySegment> keep = Collections.newSetFromMap(new IdentityHashMap<>());
      MemorySegment[] lists = new MemorySegment[n];
      int capacity = facts.numQueries();
      for (int i = 0; i < n; i++) {
        describe(images.get(i), mf_image.asSlice(imageArray, i), keep);
        Out o = outputs.get(i);
        MemorySegment out = mf_output.asSlice(outs, i);
        mf_output.struct_size(out, (int) mf_output.sizeof());
        mf_output.labels(out, o.labels());
        mf_output.labels_size(out, o.labels().byteSize());
        mf_output.label_type(out, o.labelType());
        keep.add(o.labels());
        if (o.scores() != null) {
          mf_output.scores(out, o.scores());
          mf_output.scores_size(out, o.scores().byteSize());
          keep.add(o.scores());
        }
        if (rules.regions()) {
          lists[i] = mf_segment_info.allocateArray(capacity, call);
          mf_segment_info.struct_size(lists[i], (int) mf_segment_info.sizeof());
          mf_output.segments(out, lists[i]);
          mf_output.segments_capacity(out, capacity);
          if (o.regionIds() != null) {
            mf_output.segment_ids(out, o.regionIds());
            mf_output.segment_ids_size(out, o.regionIds().byteSize());
            keep.add(o.regionIds());
          }
        }
        if (o.confidence() != null) {
          mf_output.confidence(out, o.confidence());
          mf_output.confidence_size(out, o.confidence().byteSize());
          mf_output.confidence_type(out, o.confidenceType());
          keep.add(o.confidence());
        }
      }
      MemorySegment opts = mf_segment_options.allocate(call);
      mf_segment_options.struct_size(opts, (int) mf_segment_options.sizeof());
      mf_segment_options.resize(opts, rules.resize() ? 1 : 0);
      mf_segment_options.semantic_rule(opts, rules.semanticRule());
      mf_segment_options.iterative_overlap(opts, rules.iterativeOverlap());
      mf_segment_options.object_threshold(opts, rules.objectThreshold());
      mf_segment_options.overlap_threshold(opts, rules.overlapThreshold());
      mf_segment_options.merge_same_class(opts, rules.mergeSameClass() ? 1 : 0);
      Object[] args = keep.toArray();
      maskformer_h.mf_model_segment invoker =
          INVOKERS.computeIfAbsent(args.length, c -> maskformer_h.mf_model_segment.makeInvoker(addresses(c)));
      int status = call(() -> invoker.apply(handle, imageArray, outs, n, opts, args.length, args));
      if (status != maskformer_h.MF_OK()) {
        throw NativeStatus.failure(status, "segment", context.get());
      }
      if (!rules.regions()) {
        return Collections.nCopies(n, List.of());
      }
      List<List<Region>> result = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        int count = mf_output.segments_count(mf_output.asSlice(outs, i));
        if (count > capacity) {
          throw new IllegalStateException("native side reports " + count + " segments for "
              + capacity + " queries");
        }
        List<Region> regions = new ArrayList<>(count);
        for (int j = 0; j < count; j++) {
          MemorySegment si = mf_segment_info.asSlice(lists[i], j);
          int x0 = mf_segment_info.x0(si);
          int y0 = mf_segment_info.y0(si);
          regions.add(new Region(mf_segment_info.id(si), mf_segment_info.class_index(si),
              mf_segment_info.score(si), mf_segment_info.area(si), x0, y0,
              mf_segment_info.x1(si) - x0, mf_segment_info.y1(si) - y0, mf_segment_info.query(si)));
        }
        result.add(List.copyOf(regions));
      }
      return result;
    }
  }

  /**
   * Writes an image into an mf_image (allocated zeroed) and adds its segments to {@code keep}: for
   * a YUV image each chroma plane's address, the bytes from there to its segment's end, and stride.
   */
  static void describe(Image image, MemorySegment img, Set<MemorySegment> keep) {
    mf_image.struct_size(img, (int) mf_image.sizeof());
    mf_image.data(img, image.pixels());
    mf_image.data_size(img, image.pixels().byteSize());
    mf_image.width(img, image.width());
    mf_image.height(img, image.height());
    mf_image.stride(img, image.stride());
    mf_image.format(img, image.format());
    mf_image.matrix(img, image.matrix());
    mf_image.range(img, image.range());
    keep.add(image.pixels());
    MemorySegment planes = mf_image.chroma(img);
    for (int c = 0; c < image.chroma().size(); c++) {
      Plane p = image.chroma().get(c);
      MemorySegment plane = mf_plane.asSlice(planes, c);
      mf_plane.data(plane, p.segment().asSlice(p.offset()));
      mf_plane.size(plane, p.segment().byteSize() - p.offset());
      mf_plane.stride(plane, p.stride());
      keep.add(p.segment());
    }
  }

  /** {@code count} pointer layouts: the trailing arguments of a keep-alive downcall. */
  static MemoryLayout[] addresses(int count) {
    MemoryLayout[] layouts = new MemoryLayout[count];
    Arrays.fill(layouts, ADDRESS);
    return layouts;
  }

  /** Runs a downcall; jextract's invokers wrap the linker's own exceptions (memory closed
   * meanwhile, or confined to another thread) in an AssertionError: the real one is thrown. */
  static int call(java.util.function.IntSupplier downcall) {
    try {
      return downcall.getAsInt();
    } catch (AssertionError e) {
      if (e.getCause() instanceof RuntimeException cause) {
        throw cause;
      }
      throw e;
    }
  }

  /** Runs one forward pass per (width, height) so that later calls at these sizes start warm. */
  public void warmup(int[] widthHeightPairs) {
    enter();
    try (Arena call = Arena.ofConfined()) {
      MemorySegment sizes = call.allocateFrom(JAVA_INT, widthHeightPairs);
      NativeStatus.check(
          maskformer_h.mf_model_warmup(handle, sizes, widthHeightPairs.length / 2), "warmup", name);
    } finally {
      exit();
    }
  }

  public boolean isClosed() {
    synchronized (life) {
      return closed;
    }
  }

  /** Whether the native model has been freed (closed, and no call left in flight). */
  public boolean isFreed() {
    synchronized (life) {
      return freed;
    }
  }

  /** Closes with the default wait for calls in flight (see {@link #close(long)}). */
  @Override
  public void close() {
    close(DEFAULT_CLOSE_WAIT_MILLIS);
  }

  /** How long {@link #close()} waits for calls in flight. */
  public static final long DEFAULT_CLOSE_WAIT_MILLIS = 10_000;

  /**
   * Refuses new calls at once, then waits up to {@code waitMillis} for calls in flight and frees
   * the native model; if calls are still running then, the last of them frees it when it returns.
   * Idempotent. Returns whether the native model is freed on return.
   */
  public boolean close(long waitMillis) {
    // saturated: close(Long.MAX_VALUE) waits (practically) for ever rather than not at all
    long waitNanos = waitMillis <= 0 ? 0 : waitMillis >= Long.MAX_VALUE / 4_000_000L
        ? Long.MAX_VALUE / 4 : waitMillis * 1_000_000L;
    long deadline = System.nanoTime() + waitNanos;
    boolean interrupted = false;
    synchronized (life) {
      closed = true;
      while (inFlight > 0) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          break;
        }
        try {
          life.wait(Math.max(1, left / 1_000_000L));
        } catch (InterruptedException e) {
          interrupted = true; // keep waiting: the flag is restored below
        }
      }
      if (inFlight == 0) {
        free();
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    return isFreed();
  }

  /** Counts a call in; throws if closed (the call is then not counted). */
  private void enter() {
    synchronized (life) {
      if (closed) {
        throw new IllegalStateException("MaskFormer is closed: " + name);
      }
      inFlight++;
    }
  }

  /** Counts a call out; the last one out after a close frees the native model. */
  private void exit() {
    synchronized (life) {
      inFlight--;
      if (inFlight == 0) {
        if (closed) {
          free();
        }
        life.notifyAll();
      }
    }
  }

  private void free() { // holds life, no call in flight
    if (!freed) {
      freed = true;
      owner.close();
    }
  }
}

// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.internal.NativeModel;
import dev.maskformer.internal.NativeRuntime;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.URLConnection;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * A loaded MaskFormer model: frames in, label maps (and, on request, class scores) out, with
 * sssegmentation's test-time pipeline (keep-ratio resize, normalisation, forward, semantic
 * inference, resize back, argmax) running natively on the model's device.
 *
 * <pre>{@code
 * try (MaskFormer model = MaskFormer.load(Path.of("swin-tiny.pt"));
 *      Arena arena = Arena.ofConfined()) {
 *   Frame frame = Images.read(Path.of("street.jpg"), arena);
 *   try (Segmentation s = model.segment(frame)) {
 *     int label = s.label(10, 20);
 *     String name = model.info().classes().get(label).name();
 *   }
 * }
 * }</pre>
 *
 * <p>Thread-safety: a model is immutable and safe to share; concurrent {@code segment} calls run in
 * parallel (on CUDA, each on its own stream). Keep one model per device.
 *
 * <p>Ownership: {@link #close()} frees the native model after waiting for calls in flight;
 * queued asynchronous calls fail with {@link CancellationException}; any later use throws {@link
 * IllegalStateException}. Frames and outputs stay owned by the caller and are only borrowed for
 * the duration of a call.
 */
public final class MaskFormer implements AutoCloseable {
  private final NativeModel model;
  private final ModelInfo info;
  private final ModelFormat format;
  private final int asyncThreads;
  private volatile ThreadPoolExecutor executor;

  private MaskFormer(NativeModel model, String name, int asyncThreads) {
    this.model = model;
    NativeModel.Facts f = model.facts();
    List<ClassInfo> classes = new ArrayList<>(f.numClasses());
    for (int i = 0; i < f.numClasses(); i++) {
      classes.add(new ClassInfo(i, f.classNames().get(i), f.palette()[i]));
    }
    this.info = new ModelInfo(
        name,
        f.variant(),
        List.copyOf(classes),
        f.numQueries(),
        List.of(f.mean()[0], f.mean()[1], f.mean()[2]),
        List.of(f.std()[0], f.std()[1], f.std()[2]),
        f.resizeLong(),
        f.resizeShort(),
        f.formatVersion(),
        f.device() < 0 ? Device.CPU : Device.cuda(f.device()),
        Precision.fromCode(f.precision()),
        f.metadataJson());
    this.format = ModelFormat.fromCode(model.format());
    this.asyncThreads = asyncThreads > 0 ? asyncThreads : (info.device().isCuda() ? 2 : 1);
  }

  /** Loads a model on the CPU in fp32. */
  public static MaskFormer load(Path path) {
    return load(path, LoadOptions.DEFAULTS);
  }

  /**
   * Loads a TorchScript export made by models/export.py (or models/train.py), or an AOTInductor
   * package ({@code .pt2}, models/export.py --format aoti) when {@link
   * LoadOptions#withTrustedNativeCode(boolean)} allows it, and checks it with a small forward pass
   * on the target device. The format is read from the file's content, not its name.
   *
   * <p><b>Security:</b> a {@code .pt2} holds a compiled shared library; loading one runs native
   * code from the file in this process. Without {@code trustedNativeCode} a package is refused
   * before any of it runs. Files of unknown origin belong in TorchScript.
   *
   * <p>A package runs only at the network input sizes it was compiled for: a frame whose network
   * size ({@link #inputSize}) is not among them makes {@code segment} throw {@link
   * IllegalArgumentException}.
   *
   * @throws ModelLoadException the file is missing, unreadable, not an export or has bad metadata;
   *     a {@code .pt2} without {@code trustedNativeCode}, or from a newer torch
   * @throws UnsupportedDeviceException the device or precision is not available here; a {@code
   *     .pt2} compiled for another device, precision or CPU, or a LibTorch older than 2.6
   * @throws NativeLibraryException the native library cannot be loaded
   */
  public static MaskFormer load(Path path, LoadOptions options) {
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(options, "options");
    return wrap(NativeModel.load(path, nativeOptions(options)), path.toString(), options);
  }

  /** The largest model {@link #load(InputStream, String, LoadOptions)} reads: 4 GiB. */
  public static final long MAX_STREAM_BYTES = 1L << 32;

  /**
   * Loads a TorchScript export from a URL: a class-path resource ({@code
   * MyApp.class.getResource("/models/swin-tiny.pt")}, also inside a jar), a {@code file:} URL (read
   * as a file, so a {@code .pt2} package loads too) or any other URL Java can open. The checks are
   * those of {@link #load(Path, LoadOptions)}.
   *
   * @throws ModelLoadException the URL cannot be read, or its content is not a usable export
   */
  public static MaskFormer load(URL url, LoadOptions options) {
    Objects.requireNonNull(url, "url (a class-path resource that does not exist is null)");
    Objects.requireNonNull(options, "options");
    if ("file".equals(url.getProtocol())) {
      try {
        return load(Path.of(url.toURI()), options);
      } catch (URISyntaxException | IllegalArgumentException e) {
        // not a plain file path: read it as a stream
      }
    }
    try {
      URLConnection connection = url.openConnection();
      long length = connection.getContentLengthLong();
      try (InputStream in = connection.getInputStream()) {
        return load(in, url.toString(), length, options);
      }
    } catch (IOException e) {
      throw new ModelLoadException(Status.IO, "load failed: IO: cannot read model '" + url + "': " + e, e);
    }
  }

  /**
   * Loads a TorchScript export from a stream, read to its end (it is not closed) into off-heap
   * memory that is freed when the load returns; {@code name} stands for the model in messages and
   * in {@link ModelInfo#path()}. AOTInductor packages ({@code .pt2}) load from files only. The
   * checks are those of {@link #load(Path, LoadOptions)}; a stream of more than {@link
   * #MAX_STREAM_BYTES} is refused.
   *
   * @throws ModelLoadException the stream fails, is empty or too long, or is not a usable export
   */
  public static MaskFormer load(InputStream in, String name, LoadOptions options) {
    Objects.requireNonNull(in, "in");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(options, "options");
    try {
      return load(in, name, -1, options);
    } catch (IOException e) {
      throw new ModelLoadException(Status.IO, "load failed: IO: cannot read model '" + name + "': " + e, e);
    }
  }

  /**
   * Loads a TorchScript export held in memory (on or off the heap; heap memory is copied off the
   * heap once for the call). {@code name} stands for the model in messages.
   *
   * @throws ModelLoadException the bytes are not a usable export
   */
  public static MaskFormer load(MemorySegment bytes, String name, LoadOptions options) {
    Objects.requireNonNull(bytes, "bytes");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(options, "options");
    if (bytes.byteSize() == 0) {
      throw new ModelLoadException(Status.MODEL_FORMAT, "load failed: MODEL_FORMAT: model '" + name + "' is empty (0 bytes)", null);
    }
    if (bytes.isNative()) {
      return wrap(NativeModel.load(bytes, name, nativeOptions(options)), name, options);
    }
    try (Arena copy = Arena.ofConfined()) {
      MemorySegment offHeap = copy.allocate(bytes.byteSize(), 64);
      offHeap.copyFrom(bytes);
      return wrap(NativeModel.load(offHeap, name, nativeOptions(options)), name, options);
    }
  }

  /** Reads {@code in} into off-heap memory ({@code length} bytes when known, else growing) and loads it. */
  private static MaskFormer load(InputStream in, String name, long length, LoadOptions options) throws IOException {
    long capacity = length > 0 && length <= MAX_STREAM_BYTES ? length + 1 : 1 << 20;
    byte[] chunk = new byte[1 << 16];
    Arena arena = Arena.ofConfined();
    try {
      MemorySegment buffer = arena.allocate(capacity, 64);
      long size = 0;
      for (int n; (n = in.read(chunk)) > 0; ) {
        if (size + n > MAX_STREAM_BYTES) {
          throw new ModelLoadException(Status.MODEL_FORMAT, "load failed: MODEL_FORMAT: model '" + name
              + "' is longer than " + MAX_STREAM_BYTES + " bytes (MaskFormer.MAX_STREAM_BYTES)", null);
        }
        if (size + n > buffer.byteSize()) { // grow: a new arena, the old one freed at once
          Arena bigger = Arena.ofConfined();
          MemorySegment grown;
          try {
            grown = bigger.allocate(Math.min(MAX_STREAM_BYTES, Math.max(buffer.byteSize() * 2, size + n)), 64);
          } catch (RuntimeException | OutOfMemoryError e) {
            bigger.close();
            throw e;
          }
          grown.copyFrom(buffer.asSlice(0, size));
          arena.close();
          arena = bigger;
          buffer = grown;
        }
        MemorySegment.copy(chunk, 0, buffer, ValueLayout.JAVA_BYTE, size, n);
        size += n;
      }
      if (size == 0) {
        throw new ModelLoadException(Status.MODEL_FORMAT, "load failed: MODEL_FORMAT: model '" + name + "' is empty (0 bytes)", null);
      }
      return wrap(NativeModel.load(buffer.asSlice(0, size), name, nativeOptions(options)), name, options);
    } finally {
      arena.close();
    }
  }

  private static NativeModel.Options nativeOptions(LoadOptions o) {
    return new NativeModel.Options(o.device().index(), o.precision().code(), o.intraOpThreads(), o.jitOptimize(),
        o.trustedNativeCode());
  }

  private static MaskFormer wrap(NativeModel m, String name, LoadOptions options) {
    try {
      return new MaskFormer(m, name, options.asyncThreads());
    } catch (RuntimeException e) {
      m.close();
      throw e;
    }
  }

  /** Threads serving the asynchronous calls (LoadOptions.asyncThreads, or its default). */
  int asyncThreads() {
    return asyncThreads;
  }

  /** Classes, normalisation, resize rule, device and the full metadata of this model. */
  public ModelInfo info() {
    return info;
  }

  /** TorchScript or AOTInductor package: what the file held. */
  public ModelFormat format() {
    return format;
  }

  /** Number of classes K; labels are 0..K-1. */
  public int numClasses() {
    return info.numClasses();
  }

  /** The network input size, after the test-time resize, for a frame of this size. */
  public Size inputSize(int width, int height) {
    int[] wh = model.inputSize(width, height);
    return new Size(wh[0], wh[1]);
  }

  // ------------------------------------------------------------------------------------------
  // zero-copy calls: caller's frames in, caller's outputs filled

  /** Segments one frame into caller memory. Nothing is copied or allocated on the Java side. */
  public void segment(Frame frame, Output output) {
    segment(List.of(Objects.requireNonNull(frame, "frame")), List.of(Objects.requireNonNull(output, "output")),
        SegmentOptions.DEFAULTS);
  }

  /**
   * Segments one frame into caller memory with options; returns its segments when {@code options}
   * asks for them (else an empty list), their ids going to {@link Output#segmentIds()} if given.
   */
  public List<Segment> segment(Frame frame, Output output, SegmentOptions options) {
    return segment(List.of(Objects.requireNonNull(frame, "frame")),
        List.of(Objects.requireNonNull(output, "output")), options).get(0);
  }

  /**
   * Segments frames into caller memory in one native call: frames whose network input sizes are
   * equal (all frames of one video, say) run as one batched forward pass; frames of other sizes
   * run in groups by size. Of {@code options}, {@link SegmentOptions#resize()}, the semantic rule
   * and the segment rule apply here; label type, scores and confidence are what each {@link Output}
   * holds. Batches of more than 100 distinct buffers (frames and outputs; about 50 frames with
   * labels, 33 with scores) are passed in several native calls of at most that many, because
   * every buffer is a downcall argument that keeps its memory alive for the call.
   *
   * <p>A call refused by the Java checks (null, size, memory, closed model) writes nothing. A call
   * that fails in native code ({@link NativeOutOfMemoryException}, {@link InferenceException})
   * leaves the outputs unspecified: groups of other sizes may already hold their results. Nothing
   * outside the outputs is ever written.
   *
   * @return per frame its segments by ascending id when {@link SegmentOptions#segments()} is set,
   *     else empty lists
   * @throws IllegalArgumentException an output has segment ids but the options ask for no
   *     segments; sizes or memory that do not fit
   */
  public List<List<Segment>> segment(List<Frame> frames, List<Output> outputs, SegmentOptions options) {
    Objects.requireNonNull(frames, "frames");
    Objects.requireNonNull(outputs, "outputs");
    Objects.requireNonNull(options, "options");
    if (frames.size() != outputs.size()) {
      throw new IllegalArgumentException(
          frames.size() + " frames but " + outputs.size() + " outputs");
    }
    if (frames.isEmpty()) {
      if (model.isClosed()) { // nothing to do, but a closed model is refused as for any call
        throw new IllegalStateException("MaskFormer is closed: " + model.name());
      }
      return List.of();
    }
    boolean extended = options.extended();
    for (int i = 0; i < frames.size(); i++) {
      Frame f = Objects.requireNonNull(frames.get(i), "frame " + i);
      Output o = Objects.requireNonNull(outputs.get(i), "output " + i);
      Checks.nativeSegment(f.pixels(), "frame " + i + " pixels");
      for (MemorySegment chroma : f.chromaSegments()) {
        Checks.nativeSegment(chroma, "frame " + i + " chroma plane");
      }
      Checks.nativeSegment(o.labels(), "output " + i + " labels");
      Checks.writable(o.labels(), "output " + i + " labels");
      if (o.scores() != null) {
        Checks.nativeSegment(o.scores(), "output " + i + " scores");
        Checks.writable(o.scores(), "output " + i + " scores");
      }
      if (o.segmentIds() != null) {
        if (options.segments() == null) {
          throw new IllegalArgumentException("output " + i + " has segmentIds, but the options ask"
              + " for no segments: use SegmentOptions.withSegments");
        }
        Checks.nativeSegment(o.segmentIds(), "output " + i + " segmentIds");
        Checks.writable(o.segmentIds(), "output " + i + " segmentIds");
      }
      if (o.confidence() != null) {
        Checks.nativeSegment(o.confidence(), "output " + i + " confidence");
        Checks.writable(o.confidence(), "output " + i + " confidence");
      }
      o.checkFits(f.layout(), info.numClasses(), i);
      extended |= o.extended();
    }
    if (!extended) {
      model.segment(frames, outputs, options.resize());
      return java.util.Collections.nCopies(frames.size(), List.of());
    }
    SegmentRule rule = options.segments() != null ? options.segments() : SegmentRule.DEFAULTS;
    return model.segment(frames, outputs, options.resize(), new NativeModel.Rules(
        options.semanticRule().code(), options.iterativeOverlap(), options.segments() != null,
        rule.objectThreshold(), rule.overlapThreshold(), rule.mergeSameClass()));
  }

  // ------------------------------------------------------------------------------------------
  // convenience calls: results in off-heap memory owned by the returned Segmentation

  /** Segments one frame; the result owns its label map off-heap. */
  public Segmentation segment(Frame frame) {
    return segment(frame, SegmentOptions.DEFAULTS);
  }

  /** Segments one frame with options (label type, scores, resize, segments, rule, confidence). */
  public Segmentation segment(Frame frame, SegmentOptions options) {
    return segment(List.of(Objects.requireNonNull(frame, "frame")), options).get(0);
  }

  /** Segments several frames in one native call (batched by size, as the zero-copy call). */
  public List<Segmentation> segment(List<Frame> frames, SegmentOptions options) {
    Objects.requireNonNull(frames, "frames");
    Objects.requireNonNull(options, "options");
    LabelType type =
        options.labelType() != null ? options.labelType() : LabelType.forClasses(numClasses());
    List<Segmentation> results = new ArrayList<>(frames.size());
    try {
      List<Output> outputs = new ArrayList<>(frames.size());
      for (int i = 0; i < frames.size(); i++) {
        Frame f = Objects.requireNonNull(frames.get(i), "frame " + i);
        Segmentation s = Segmentation.allocate(f.width(), f.height(), type, options.scores(),
            options.segments() != null, options.confidence(), info.classes());
        results.add(s);
        outputs.add(s.output());
      }
      List<List<Segment>> segments = segment(frames, outputs, options);
      for (int i = 0; i < results.size(); i++) {
        results.get(i).setSegments(segments.get(i));
      }
      return results;
    } catch (RuntimeException | Error e) {
      results.forEach(Segmentation::close);
      throw e;
    }
  }

  /** Segments a Java image: its pixels are copied off-heap once ({@link Images#toFrame}). */
  public Segmentation segment(BufferedImage image) {
    return segment(image, SegmentOptions.DEFAULTS);
  }

  /** Segments a Java image with options. */
  public Segmentation segment(BufferedImage image, SegmentOptions options) {
    Objects.requireNonNull(image, "image");
    Objects.requireNonNull(options, "options");
    try (Arena arena = Arena.ofConfined()) {
      return segment(Images.toFrame(image, arena), options);
    }
  }

  /** Reads and segments an image file (PNG, JPEG, BMP, GIF). */
  public Segmentation segment(Path imageFile) throws IOException {
    return segment(imageFile, SegmentOptions.DEFAULTS);
  }

  /** Reads and segments an image file with options. */
  public Segmentation segment(Path imageFile, SegmentOptions options) throws IOException {
    Objects.requireNonNull(imageFile, "imageFile");
    Objects.requireNonNull(options, "options");
    try (Arena arena = Arena.ofConfined()) {
      return segment(Images.read(imageFile, arena), options);
    }
  }

  // ------------------------------------------------------------------------------------------
  // asynchronous calls

  /**
   * Segments a frame on this model's worker threads. The frame's memory must be usable from
   * another thread (a shared, global or automatic arena) and stay alive until the future is
   * done. Cancelling the future before the work starts skips it; cancelling later discards (and
   * frees) the result.
   */
  public CompletableFuture<Segmentation> segmentAsync(Frame frame, SegmentOptions options) {
    Objects.requireNonNull(frame, "frame");
    Objects.requireNonNull(options, "options");
    return submit(() -> segment(frame, options), Segmentation::close);
  }

  /** Zero-copy asynchronous segmentation into caller memory (same rules as above). */
  public CompletableFuture<Void> segmentAsync(Frame frame, Output output) {
    Objects.requireNonNull(frame, "frame");
    Objects.requireNonNull(output, "output");
    return submit(() -> {
      segment(frame, output);
      return null;
    }, v -> {});
  }

  private <T> CompletableFuture<T> submit(Supplier<T> work, Consumer<T> discard) {
    if (model.isClosed()) {
      throw new IllegalStateException("MaskFormer is closed: " + model.name());
    }
    CompletableFuture<T> future = new CompletableFuture<>();
    try {
      executor().execute(new Task<>(future, work, discard, model));
    } catch (RejectedExecutionException e) {
      throw new IllegalStateException("MaskFormer is closed: " + model.name(), e);
    }
    return future;
  }

  /** One queued asynchronous call. */
  private record Task<T>(
      CompletableFuture<T> future, Supplier<T> work, Consumer<T> discard, NativeModel model)
      implements Runnable {
    @Override
    public void run() {
      if (future.isDone()) {
        return; // cancelled while queued
      }
      try {
        T result = work.get();
        if (!future.complete(result)) {
          discard.accept(result); // cancelled while running: free what was made
        }
      } catch (IllegalStateException e) {
        // close() won the race before the call reached native code: the call never ran
        future.completeExceptionally(model.isClosed()
            ? new CancellationException("MaskFormer closed before this call started") : e);
      } catch (Throwable t) {
        future.completeExceptionally(t);
      }
    }
  }

  private ThreadPoolExecutor executor() {
    ThreadPoolExecutor e = executor;
    if (e != null) {
      return e;
    }
    synchronized (this) {
      if (executor == null) {
        AtomicInteger n = new AtomicInteger();
        executor = new ThreadPoolExecutor(asyncThreads, asyncThreads, 30, TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(), r -> {
              Thread t = new Thread(r, "maskformer-async-" + n.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
        executor.allowCoreThreadTimeOut(true);
      }
      return executor;
    }
  }

  // ------------------------------------------------------------------------------------------

  /**
   * Runs the network once at each frame size so that later calls at those sizes do not pay for
   * first-use initialisation (allocator pools, kernels, cuDNN plans). The warm-up frame is
   * all-zero pages that are only read, and its labels are bytes where the model has at most 256
   * classes: about 1-2 bytes of resident memory per frame pixel (a 8192x8192 frame: 124 MB).
   */
  public void warmup(Size... frameSizes) {
    Objects.requireNonNull(frameSizes, "frameSizes");
    int[] pairs = new int[frameSizes.length * 2];
    for (int i = 0; i < frameSizes.length; i++) {
      Size s = Objects.requireNonNull(frameSizes[i], "size " + i);
      pairs[2 * i] = s.width();
      pairs[2 * i + 1] = s.height();
    }
    model.warmup(pairs);
  }

  /**
   * Closes the model: later calls fail at once with {@link IllegalStateException}, queued
   * asynchronous calls are cancelled, and the native model is freed once calls in flight have
   * returned. Waits up to 10 seconds for them (see {@link #close(Duration)}). Idempotent.
   */
  @Override
  public void close() {
    close(Duration.ofMillis(NativeModel.DEFAULT_CLOSE_WAIT_MILLIS));
  }

  /**
   * Closes the model, waiting at most {@code wait} for calls in flight. A call inside native code
   * cannot be interrupted; if one is still running when the wait ends, this returns
   * {@code false} and the native model is freed when that call returns (until then
   * {@link #liveNativeHandles()} counts it). Returns {@code true} when the native model is freed.
   */
  public boolean close(Duration wait) {
    Objects.requireNonNull(wait, "wait");
    // saturated: Duration can exceed what a long of nanoseconds holds (ChronoUnit.FOREVER)
    long waitNanos = wait.isNegative() ? 0
        : wait.compareTo(Duration.ofNanos(Long.MAX_VALUE / 4)) > 0 ? Long.MAX_VALUE / 4 : wait.toNanos();
    long deadline = System.nanoTime() + waitNanos;
    ThreadPoolExecutor e;
    synchronized (this) {
      e = executor;
    }
    if (e != null) {
      for (Runnable r : e.shutdownNow()) {
        if (r instanceof Task<?> t) {
          t.future().completeExceptionally(
              new CancellationException("MaskFormer closed before this call started"));
        }
      }
    }
    boolean freed = model.close(Math.max(0, (deadline - System.nanoTime()) / 1_000_000L));
    if (e != null && freed) {
      try { // the workers have nothing left to run in native code: they end at once
        e.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (InterruptedException ie) {
        Thread.currentThread().interrupt();
      }
    }
    return freed;
  }

  @Override
  public String toString() {
    return "MaskFormer[" + info.path() + ", " + info.variant() + ", " + info.numClasses()
        + " classes, " + info.device() + ", " + info.precision() + "]";
  }

  // ------------------------------------------------------------------------------------------
  // process-wide native facilities

  /** Versions and devices of the native side (loads it if needed). */
  public static RuntimeInfo runtime() {
    return NativeRuntime.info();
  }

  /**
   * Free and total memory of a CUDA device, e.g. to size batches or watch for growth.
   *
   * @throws UnsupportedDeviceException for the CPU, a shim without CUDA, or no such device
   */
  public static DeviceMemory deviceMemory(Device device) {
    Objects.requireNonNull(device, "device");
    if (device.isCpu()) {
      throw new UnsupportedDeviceException("device memory is reported for CUDA devices, not the CPU");
    }
    long[] m = NativeRuntime.cudaMemory(device.index());
    return new DeviceMemory(m[0], m[1]);
  }

  /** Number of usable CUDA devices (0 without CUDA). */
  public static int cudaDeviceCount() {
    return NativeRuntime.info().cudaDevices();
  }

  /**
   * Sets LibTorch's intra-op threads for the whole process; call once at start-up. Without it,
   * the first model load sets {@link RuntimeInfo#defaultThreads()} (the CPUs this process may
   * use), unless {@code OMP_NUM_THREADS} is set.
   *
   * @throws IllegalArgumentException outside 1..{@link RuntimeInfo#maxThreads()}
   */
  public static void setIntraOpThreads(int threads) {
    NativeRuntime.setThreads(threads);
  }

  /**
   * Times the forward pass alone (no pre- or post-processing) at a network input size: one
   * untimed pass, then {@code iters} timed ones. For benchmarks.
   *
   * @return milliseconds of each timed pass
   */
  public double[] benchmarkForward(Size networkInput, int batch, int iters) {
    Objects.requireNonNull(networkInput, "networkInput");
    if (batch < 1 || batch > 1024 || iters < 1 || iters > 100_000) {
      throw new IllegalArgumentException("batch must be 1..1024 and iters 1..100000, got " + batch + ", " + iters);
    }
    return model.benchmarkForward(networkInput.width(), networkInput.height(), batch, iters);
  }

  /**
   * Best measured matrix-multiply throughput of the loaded LibTorch in GFLOP/s: {@code n x n}
   * products on {@code device} in {@code precision} at the current thread count. The peak that
   * {@code bench} compares the forward pass with.
   */
  public static double matmulGflops(Device device, Precision precision, int n, int iters) {
    Objects.requireNonNull(device, "device");
    Objects.requireNonNull(precision, "precision");
    if (n < 64 || n > 8192 || iters < 1 || iters > 1000) {
      throw new IllegalArgumentException("n must be 64..8192 and iters 1..1000, got " + n + ", " + iters);
    }
    return NativeRuntime.matmulGflops(device.index(), precision.code(), n, iters);
  }

  /** {@link #setHostCacheLimit(long)}'s automatic limit (the default). */
  public static final long HOST_CACHE_AUTO = -1;

  /**
   * Bytes of freed CPU tensor memory the process keeps for reuse, so that calls in a steady state
   * do not page-fault. The default, {@link #HOST_CACHE_AUTO}, follows the workload: twice the
   * largest working set of one segment call times the most calls seen in flight at once, between
   * 32 MiB and 2 GiB. 0 releases it all and disables the cache; a smaller limit evicts the least
   * recently freed blocks first.
   */
  public static void setHostCacheLimit(long bytes) {
    NativeRuntime.setHostCacheLimit(bytes);
  }

  /** The host cache's counters now. */
  public static HostCacheStats hostCacheStats() {
    return NativeRuntime.hostCacheStats();
  }

  /**
   * Host memory for frames and outputs, owned by {@code arena} (freed when it closes). With CUDA
   * the memory is page-locked, so frames reach the GPU, and results come back, in one
   * asynchronous transfer each; without CUDA it is ordinary 64-byte aligned memory.
   */
  public static MemorySegment allocateHost(Arena arena, long bytes) {
    return NativeRuntime.allocateHost(arena, bytes);
  }

  /**
   * The frame as packed RGB, {@code width * height * 3} bytes in rows of {@code width * 3}, as a
   * model's pre-processing sees it before the resize: packed formats reordered, YUV frames
   * converted exactly as {@code ffmpeg -pix_fmt rgb24} converts the same frame (ffmpeg 5.1's
   * swscale on x86: bit for bit, odd sizes included). Runs on the CPU; for overlays, checks, or
   * saving what the model saw.
   *
   * @throws IllegalArgumentException {@code rgb} is a heap or read-only segment, or too small
   */
  public static void toRgb(Frame frame, MemorySegment rgb) {
    Objects.requireNonNull(frame, "frame");
    Objects.requireNonNull(rgb, "rgb");
    Checks.nativeSegment(frame.pixels(), "frame pixels");
    for (MemorySegment chroma : frame.chromaSegments()) {
      Checks.nativeSegment(chroma, "frame chroma plane");
    }
    Checks.nativeSegment(rgb, "rgb");
    Checks.writable(rgb, "rgb");
    long need = frame.layout().pixels() * 3;
    if (rgb.byteSize() < need) {
      throw new IllegalArgumentException("rgb holds " + rgb.byteSize() + " bytes, " + frame.layout()
          + " needs " + need);
    }
    NativeRuntime.toRgb(frame, rgb);
  }

  /** Live native handles (models and host buffers) of the process; for leak checks. */
  public static long liveNativeHandles() {
    return NativeRuntime.liveHandles();
  }
}

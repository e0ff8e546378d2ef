// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.images.Images;
import dev.maskformer.ModelInfo.ClassInfo;
import dev.maskformer.ModelInfo.ModelFormat;
import dev.maskformer.Output.LabelType;
import dev.maskformer.SegmentOptions.RegionRule;
import dev.maskformer.Segmentation.Region;
import dev.maskformer.internal.NativeModel;
import dev.maskformer.internal.NativeRuntime;
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
  static {
    // the benchmark hooks of the command line reach the native model through internal.Benchmarks,
    // with this package's exception types
    dev.maskformer.internal.Benchmarks.register(
        (m, work) -> NativeCalls.call(() -> work.apply(m == null ? null : ((MaskFormer) m).model)));
  }

  private final NativeModel model;
  private volatile ModelInfo info;
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
        f.metadataJson(),
        f.cpuRewrites());
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
    return wrap(() -> NativeModel.load(path, nativeOptions(options)), path.toString(), options);
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
      return wrap(() -> NativeModel.load(bytes, name, nativeOptions(options)), name, options);
    }
    try (Arena copy = Arena.ofConfined()) {
      MemorySegment offHeap = copy.allocate(bytes.byteSize(), 64);
      offHeap.copyFrom(bytes);
      return wrap(() -> NativeModel.load(offHeap, name, nativeOptions(options)), name, options);
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
      MemorySegment bytes = buffer.asSlice(0, size);
      return wrap(() -> NativeModel.load(bytes, name, nativeOptions(options)), name, options);
    } finally {
      arena.close();
    }
  }

  private static NativeModel.Options nativeOptions(LoadOptions o) {
    return new NativeModel.Options(o.device().index(), o.precision().code(), o.intraOpThreads(), o.jitOptimize(),
        o.trustedNativeCode(), o.cpuRewrites().code());
  }

  private static MaskFormer wrap(Supplier<NativeModel> loader, String name, LoadOptions options) {
    return NativeCalls.load(() -> {
      NativeModel m = loader.get();
      try {
        return new MaskFormer(m, name, options.asyncThreads());
      } catch (RuntimeException e) {
        m.close();
        throw e;
      }
    });
  }

  /** Threads serving the asynchronous calls (LoadOptions.asyncThreads, or its default). */
  int asyncThreads() {
    return asyncThreads;
  }

  /**
   * Classes, normalisation, resize rule, device and the full metadata of this model; {@link
   * ModelInfo#cpuRewrites()} is read anew while the rewrites made in the background run.
   */
  public ModelInfo info() {
    ModelInfo i = info;
    if (i.cpuRewrites().startsWith(ModelInfo.REWRITES_PENDING) && !model.isClosed()) {
      try {
        i = withCpuRewrites(model.cpuRewrites());
      } catch (IllegalStateException closedMeanwhile) {
        // the model closed since the check: what was known stays
      }
    }
    return i;
  }

  /**
   * Waits until the CPU rewrites made in the background ({@link CpuRewrites#IN_BACKGROUND}, the
   * default) are done, and returns their outcome, {@link ModelInfo#cpuRewrites()}: calls made
   * after it returns all run the same network. Returns at once for models loaded otherwise. The
   * wait lasts as long as the rewrite (on 2 idle cores about 0.3 s for the demo model, 1.1 s for
   * Swin-T; longer while calls keep every core busy).
   *
   * @throws IllegalStateException the model is closed
   */
  public String awaitCpuRewrites() {
    return withCpuRewrites(NativeCalls.call(model::awaitCpuRewrites)).cpuRewrites();
  }

  /** The info with the CPU rewrites' report as the native model gives it now. */
  private ModelInfo withCpuRewrites(String now) {
    ModelInfo i = info;
    if (!now.equals(i.cpuRewrites())) {
      info = i = i.withCpuRewrites(now);
    }
    return i;
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
    int[] wh = NativeCalls.call(() -> model.inputSize(width, height));
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
   * asks for them (else an empty list), their ids going to {@link Output#regionIds()} if given.
   */
  public List<Region> segment(Frame frame, Output output, SegmentOptions options) {
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
   * @return per frame its segments by ascending id when {@link SegmentOptions#regions()} is set,
   *     else empty lists
   * @throws IllegalArgumentException an output has segment ids but the options ask for no
   *     segments; sizes or memory that do not fit
   */
  public List<List<Region>> segment(List<Frame> frames, List<Output> outputs, SegmentOptions options) {
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
    List<NativeModel.Image> images = new ArrayList<>(frames.size());
    List<NativeModel.Out> outs = new ArrayList<>(frames.size());
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
      if (o.regionIds() != null) {
        if (options.regions() == null) {
          throw new IllegalArgumentException("output " + i + " has regionIds, but the options ask"
              + " for no regions: use SegmentOptions.withRegions");
        }
        Checks.nativeSegment(o.regionIds(), "output " + i + " regionIds");
        Checks.writable(o.regionIds(), "output " + i + " regionIds");
      }
      if (o.confidence() != null) {
        Checks.nativeSegment(o.confidence(), "output " + i + " confidence");
        Checks.writable(o.confidence(), "output " + i + " confidence");
      }
      o.checkFits(f.layout(), info.numClasses(), i);
      images.add(NativeCalls.image(f));
      outs.add(NativeCalls.output(o));
    }
    RegionRule rule = options.regions() != null ? options.regions() : RegionRule.DEFAULTS;
    NativeModel.Rules rules = new NativeModel.Rules(options.resize(), options.semanticRule().code(),
        options.iterativeOverlap(), options.regions() != null, rule.objectThreshold(), rule.overlapThreshold(),
        rule.mergeSameClass());
    List<List<NativeModel.Region>> found = NativeCalls.call(() -> model.segment(images, outs, rules,
        () -> frames.size() == 1 ? frames.get(0).layout().toString()
            : frames.size() + " frames, first " + frames.get(0).layout()));
    List<List<Region>> result = new ArrayList<>(found.size());
    for (List<NativeModel.Region> regions : found) {
      List<Region> converted = new ArrayList<>(regions.size());
      for (NativeModel.Region r : regions) {
        converted.add(new Region(r.id(), r.classIndex(), r.score(), r.area(), r.x(), r.y(), r.width(), r.height(),
            r.query()));
      }
      result.add(List.copyOf(converted));
    }
    return result;
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
            options.regions() != null, options.confidence(), info.classes());
        results.add(s);
        outputs.add(s.output());
      }
      List<List<Region>> segments = segment(frames, outputs, options);
      for (int i = 0; i < results.size(); i++) {
        results.get(i).setSegments(segments.get(i));
      }
      return results;
    } catch (RuntimeException | Error e) {
      results.forEach(Segmentation::close);
      throw e;
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
   * classes: about 1-2 bytes of resident memory per frame pixel (a 8192x8192 frame: 124 MB). It
   * first waits for the CPU rewrites made in the background ({@link #awaitCpuRewrites()}), so that
   * it warms the network later calls run.
   */
  public void warmup(Size... frameSizes) {
    Objects.requireNonNull(frameSizes, "frameSizes");
    int[] pairs = new int[frameSizes.length * 2];
    for (int i = 0; i < frameSizes.length; i++) {
      Size s = Objects.requireNonNull(frameSizes[i], "size " + i);
      pairs[2 * i] = s.width();
      pairs[2 * i + 1] = s.height();
    }
    NativeCalls.run(() -> model.warmup(pairs));
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

  /**
   * A width and a height in pixels.
   *
   * @param width 1..{@link ImageLayout#MAX_SIDE}
   * @param height 1..{@link ImageLayout#MAX_SIDE}
   */
  public record Size(int width, int height) {
    public Size {
      if (width < 1 || width > ImageLayout.MAX_SIDE || height < 1 || height > ImageLayout.MAX_SIDE) {
        throw new IllegalArgumentException("size " + width + "x" + height + " outside 1.." + ImageLayout.MAX_SIDE);
      }
    }

    /** Parses {@code WxH}, e.g. {@code 1920x1080}. */
    public static Size parse(String text) {
      String[] parts = text.trim().toLowerCase(java.util.Locale.ROOT).split("x");
      if (parts.length != 2) {
        throw new IllegalArgumentException("size must be WxH, e.g. 512x512, got '" + text + "'");
      }
      try {
        return new Size(Integer.parseInt(parts[0]), Integer.parseInt(parts[1]));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("size must be WxH, e.g. 512x512, got '" + text + "'");
      }
    }

    @Override
    public String toString() {
      return width + "x" + height;
    }
  }
}

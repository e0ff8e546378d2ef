// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.ImageLayout.Plane;
import dev.maskformer.Segmentation.Region;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Segments a stream of frames asynchronously, for decoders that reuse their buffers (JavaCV's
 * {@code FFmpegFrameGrabber}, most hardware decoders): {@link #submit} copies the frame once into
 * one of a few off-heap buffers of its own (page-locked with CUDA) and returns at once; worker
 * threads segment from there, so the decoder may overwrite its buffer as soon as {@code submit}
 * returns. At most {@code buffers} frames exist at a time, so frames never queue without bound:
 *
 * <ul>
 *   <li>{@link Mode#EVERY_FRAME}: every frame is segmented; {@code submit} waits while all
 *       buffers are taken (back-pressure on the decoder). For files and recordings.
 *   <li>{@link Mode#LATEST_FRAME}: for live sources. {@code submit} never waits; a frame that is
 *       still waiting when a newer one arrives is dropped in its favour (its future is cancelled
 *       with {@link FrameDroppedException}), so the model always works on the newest frame and the
 *       latency stays one frame's segmentation, however slow the model. {@link #dropped()} counts
 *       the dropped frames.
 * </ul>
 *
 * <pre>{@code
 * try (StreamSegmenter stream = StreamSegmenter.open(model, layout, Mode.LATEST_FRAME, SegmentOptions.DEFAULTS)) {
 *   while ((f = grabber.grab()) != null) {
 *     stream.submit(MemorySegment.ofBuffer(f.image[0])).thenAccept(r -> {
 *       try (r) { show(r.frame(), r.segmentation()); }   // frame and labels, until closed
 *     });
 *   }
 * }
 * }</pre>
 *
 * <p>Thread-safety: {@code submit} may be called from any thread; frames are numbered in the order
 * their calls take them. Results complete on the segmenter's worker threads ({@code parallelism},
 * by default {@link LoadOptions#asyncThreads()}'s: 1 on the CPU, 2 on CUDA), each on its own.
 *
 * <p>Ownership: the buffers belong to the segmenter; a {@link Result} lends one (its {@link
 * Result#frame()}) until it is closed, so close results promptly: a buffer held by an open result
 * is one fewer for new frames. {@link #close()} cancels frames still waiting, waits for those being
 * segmented and frees the buffers; results still open then keep their segmentation but their frame
 * memory is gone (reading it throws {@link IllegalStateException}).
 */
public final class StreamSegmenter implements AutoCloseable {
  /** What happens when frames arrive faster than the model segments them. */
  public enum Mode {
    /** Segment every frame; {@code submit} waits for a free buffer. */
    EVERY_FRAME,
    /** Keep only the newest waiting frame; {@code submit} never waits. */
    LATEST_FRAME
  }

  /**
   * One segmented frame: the labels (owned, as from {@link MaskFormer#segment(Frame)}) and the
   * frame they belong to, lent from the segmenter's buffers until {@link #close()}.
   */
  public static final class Result implements AutoCloseable {
    private final StreamSegmenter owner;
    private final long sequence;
    private final Frame frame;
    private final Segmentation segmentation;
    private final long submittedNanos;
    private final long startedNanos;
    private final long finishedNanos;
    private boolean closed;

    private Result(StreamSegmenter owner, Pending p, Segmentation segmentation, long startedNanos, long finishedNanos) {
      this.owner = owner;
      this.sequence = p.sequence;
      this.frame = new Frame(p.buffer, owner.layout);
      this.segmentation = segmentation;
      this.submittedNanos = p.submittedNanos;
      this.startedNanos = startedNanos;
      this.finishedNanos = finishedNanos;
    }

    /** The frame's number in the stream: 0 for the first frame submitted, gaps where frames were dropped. */
    public long sequence() {
      return sequence;
    }

    /** The frame as segmented (the segmenter's copy), readable until this result is closed. */
    public Frame frame() {
      return frame;
    }

    public Segmentation segmentation() {
      return segmentation;
    }

    /** {@link System#nanoTime()} when {@code submit} was called for this frame. */
    public long submittedNanos() {
      return submittedNanos;
    }

    /** {@link System#nanoTime()} when a worker started segmenting it. */
    public long startedNanos() {
      return startedNanos;
    }

    /** {@link System#nanoTime()} when its labels were ready. */
    public long finishedNanos() {
      return finishedNanos;
    }

    /** Latency of this frame: from {@code submit} to labels, in milliseconds. */
    public double latencyMillis() {
      return (finishedNanos - submittedNanos) / 1e6;
    }

    /** Frees the labels and gives the frame's buffer back to the segmenter. Idempotent. */
    @Override
    public void close() {
      synchronized (this) {
        if (closed) {
          return;
        }
        closed = true;
      }
      segmentation.close();
      owner.release(frame.pixels());
    }
  }

  private record Pending(long sequence, MemorySegment buffer, CompletableFuture<Result> future, long submittedNanos) {}

  private final MaskFormer model;
  private final ImageLayout layout;
  private final Mode mode;
  private final SegmentOptions options;
  private final int bufferCount;
  private final Arena arena = Arena.ofShared();
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  private final ArrayDeque<MemorySegment> free = new ArrayDeque<>();
  private final ArrayDeque<Pending> waiting = new ArrayDeque<>();
  private final List<Thread> workers = new ArrayList<>();
  private boolean closed;
  private int alive; // workers still running
  private int running; // frames being segmented
  private long submitted;
  private long dropped;
  private long completed;
  private long failed;

  private StreamSegmenter(MaskFormer model, ImageLayout frameLayout, Mode mode, SegmentOptions options,
      int parallelism, int buffers) {
    this.model = model;
    this.mode = mode;
    this.options = options;
    this.bufferCount = buffers;
    // the segmenter's own frames: planes back to back, rows as wide as the image
    PixelFormat f = frameLayout.format();
    this.layout = ImageLayout.packed(frameLayout.width(), frameLayout.height(), f)
        .withColor(frameLayout.matrix(), frameLayout.range());
    try {
      for (int i = 0; i < buffers; i++) {
        free.add(MaskFormerRuntime.allocateHost(arena, layout.byteSize()));
      }
    } catch (RuntimeException | Error e) {
      arena.close();
      throw e;
    }
    alive = parallelism;
    for (int i = 0; i < parallelism; i++) {
      Thread t = new Thread(this::work, "maskformer-stream-" + (i + 1));
      t.setDaemon(true);
      workers.add(t);
    }
    workers.forEach(Thread::start);
  }

  /**
   * A segmenter for frames of {@code layout}'s size, format and colours (strides and plane
   * positions of the frames given may differ: they are copied into the segmenter's own layout),
   * with the model's async parallelism and {@code parallelism + 2} buffers.
   */
  public static StreamSegmenter open(MaskFormer model, ImageLayout layout, Mode mode, SegmentOptions options) {
    Objects.requireNonNull(model, "model");
    return open(model, layout, mode, options, model.asyncThreads(), model.asyncThreads() + 2);
  }

  /**
   * A segmenter with {@code parallelism} worker threads and {@code buffers} frame buffers (at least
   * {@code parallelism + 1}: one per frame being segmented and one for the frame waiting; more let
   * results stay open longer and, in EVERY_FRAME mode, absorb a burst).
   */
  public static StreamSegmenter open(MaskFormer model, ImageLayout layout, Mode mode, SegmentOptions options,
      int parallelism, int buffers) {
    Objects.requireNonNull(model, "model");
    Objects.requireNonNull(layout, "layout");
    Objects.requireNonNull(mode, "mode");
    Objects.requireNonNull(options, "options");
    if (parallelism < 1 || parallelism > 64) {
      throw new IllegalArgumentException("parallelism must be 1..64, got " + parallelism);
    }
    if (buffers < parallelism + 1 || buffers > 1024) {
      throw new IllegalArgumentException("buffers must be " + (parallelism + 1) + "..1024 (parallelism + 1 at least), got "
          + buffers);
    }
    return new StreamSegmenter(model, layout, mode, options, parallelism, buffers);
  }

  /** The layout of the segmenter's own frames (what {@link Result#frame()} has). */
  public ImageLayout layout() {
    return layout;
  }

  public Mode mode() {
    return mode;
  }

  /**
   * Copies {@code frame} (of the stream's size, format and colours) into a buffer of the
   * segmenter's and queues it; the caller may reuse its memory as soon as this returns. The future
   * completes with the result on a worker thread; close the result when done with it. In
   * LATEST_FRAME mode it may instead be cancelled with {@link FrameDroppedException}; in EVERY_FRAME
   * mode this waits for a free buffer (an interrupt while waiting drops the frame and keeps the
   * thread's interrupt status).
   *
   * @throws IllegalArgumentException the frame's size, format or colours differ from the stream's
   * @throws IllegalStateException the segmenter is closed, or the frame's memory is
   */
  public CompletableFuture<Result> submit(Frame frame) {
    Objects.requireNonNull(frame, "frame");
    ImageLayout l = frame.layout();
    if (l.width() != layout.width() || l.height() != layout.height() || l.format() != layout.format()
        || (l.format().isYuv() && (l.matrix() != layout.matrix() || l.range() != layout.range()))) {
      throw new IllegalArgumentException("frame " + l + " does not match the stream's " + layout);
    }
    long sequence;
    MemorySegment buffer;
    CompletableFuture<Result> future = new CompletableFuture<>();
    List<Pending> droppedNow = new ArrayList<>(1); // completed after the lock is released
    long now = System.nanoTime();
    lock.lock();
    try {
      if (closed) {
        throw new IllegalStateException("StreamSegmenter is closed");
      }
      sequence = submitted++;
      if (mode == Mode.EVERY_FRAME) {
        while (free.isEmpty() && !closed) {
          try {
            changed.await();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            dropped++;
            future.completeExceptionally(new FrameDroppedException(sequence, "interrupted while waiting for a buffer"));
            return future;
          }
        }
        if (closed) {
          throw new IllegalStateException("StreamSegmenter is closed");
        }
        buffer = free.poll();
      } else {
        buffer = free.poll();
        if (buffer == null) {
          Pending replaced = waiting.poll();
          if (replaced == null) { // every buffer is being segmented or held by an open result
            dropped++;
            future.completeExceptionally(new FrameDroppedException(sequence, "all " + bufferCount
                + " buffers are being segmented or held by open results"));
            return future;
          }
          dropped++;
          droppedNow.add(replaced);
          buffer = replaced.buffer; // ours now: its frame will not be segmented
        }
      }
    } finally {
      lock.unlock();
    }
    finishDropped(droppedNow, sequence);
    try {
      copy(frame, buffer); // the buffer is ours alone: neither free nor queued
    } catch (RuntimeException | Error e) {
      release(buffer);
      throw e;
    }
    boolean cancelled = false;
    lock.lock();
    try {
      if (closed) {
        free.add(buffer);
        cancelled = true;
      } else {
        if (mode == Mode.LATEST_FRAME) {
          for (Pending p; (p = waiting.poll()) != null; ) { // a frame queued by another thread meanwhile
            dropped++;
            droppedNow.add(p);
            free.add(p.buffer);
          }
        }
        waiting.add(new Pending(sequence, buffer, future, now));
        changed.signalAll();
      }
    } finally {
      lock.unlock();
    }
    finishDropped(droppedNow, sequence);
    if (cancelled) {
      future.completeExceptionally(new CancellationException("StreamSegmenter closed"));
    }
    return future;
  }

  /** Cancels the futures of frames a newer one replaced (outside the lock: callbacks run here). */
  private static void finishDropped(List<Pending> list, long newer) {
    for (Pending p : list) {
      p.future.completeExceptionally(new FrameDroppedException(p.sequence, "replaced by frame " + newer));
    }
    list.clear();
  }

  /** {@link #submit(Frame)} for memory laid out as {@link #layout()} (planes back to back). */
  public CompletableFuture<Result> submit(MemorySegment pixels) {
    return submit(new Frame(pixels, layout));
  }

  private void work() {
    while (true) {
      Pending p;
      lock.lock();
      try {
        while (waiting.isEmpty() && !closed) {
          changed.awaitUninterruptibly();
        }
        p = waiting.poll();
        if (p != null) {
          running++;
        }
        if (p == null) { // closed and nothing left: the last worker out frees the buffers
          if (--alive == 0) {
            arena.close();
          }
          return;
        }
      } finally {
        lock.unlock();
      }
      try {
        if (p.future.isDone()) { // cancelled by the caller while it waited
          release(p.buffer);
          continue;
        }
        long started = System.nanoTime();
        try {
          Segmentation s = model.segment(new Frame(p.buffer, layout), options);
          Result r = new Result(this, p, s, started, System.nanoTime());
          count(true);
          if (!p.future.complete(r)) {
            r.close(); // cancelled meanwhile: free what was made
          }
        } catch (Throwable t) {
          release(p.buffer);
          count(false);
          p.future.completeExceptionally(t);
        }
      } finally {
        lock.lock();
        try {
          running--;
          changed.signalAll();
        } finally {
          lock.unlock();
        }
      }
    }
  }

  private void count(boolean ok) {
    lock.lock();
    try {
      if (ok) {
        completed++;
      } else {
        failed++;
      }
    } finally {
      lock.unlock();
    }
  }

  private void release(MemorySegment buffer) {
    lock.lock();
    try {
      if (!closed) {
        free.add(buffer);
        changed.signalAll();
      }
    } finally {
      lock.unlock();
    }
  }

  /** The frame's planes into the segmenter's layout: one bulk copy per plane when the strides agree. */
  private void copy(Frame src, MemorySegment dst) {
    ImageLayout s = src.layout();
    long rowBytes = (long) s.width() * s.format().channels();
    copyPlane(src.pixels(), 0, s.stride(), dst, 0, layout.stride(), s.height(), rowBytes);
    for (int i = 0; i < s.chroma().size(); i++) {
      Plane from = s.chroma().get(i);
      Plane to = layout.chroma().get(i);
      copyPlane(src.chromaSegment(i), from.offset(), from.stride(), dst, to.offset(), to.stride(),
          (s.height() + 1) / 2, s.format().chromaRowBytes(s.width()));
    }
  }

  private static void copyPlane(MemorySegment from, long fromOffset, long fromStride, MemorySegment to,
      long toOffset, long toStride, int rows, long rowBytes) {
    if (fromStride == toStride) {
      MemorySegment.copy(from, fromOffset, to, toOffset, (rows - 1L) * toStride + rowBytes);
      return;
    }
    for (int r = 0; r < rows; r++) {
      MemorySegment.copy(from, fromOffset + r * fromStride, to, toOffset + r * toStride, rowBytes);
    }
  }

  /**
   * Waits until no frame is waiting or being segmented: every frame submitted so far is segmented,
   * dropped or failed (its future done). For the end of a stream, before {@link #close()}, which
   * would cancel a frame still waiting.
   */
  public void flush() throws InterruptedException {
    lock.lock();
    try {
      while (!waiting.isEmpty() || running > 0) {
        changed.await();
      }
    } finally {
      lock.unlock();
    }
  }

  /** Frames submitted so far (segmented, dropped, failed, or still on their way). */
  public long submitted() {
    lock.lock();
    try {
      return submitted;
    } finally {
      lock.unlock();
    }
  }

  /** Frames dropped (LATEST_FRAME: replaced while waiting, or no buffer free; an interrupted wait). */
  public long dropped() {
    lock.lock();
    try {
      return dropped;
    } finally {
      lock.unlock();
    }
  }

  /** Frames segmented. */
  public long completed() {
    lock.lock();
    try {
      return completed;
    } finally {
      lock.unlock();
    }
  }

  /** Frames whose segmentation failed (their futures hold the exception). */
  public long failed() {
    lock.lock();
    try {
      return failed;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Cancels frames still waiting ({@link CancellationException}), waits for those being segmented,
   * stops the workers and frees the buffers (when called from a result's callback on a worker, the
   * last worker frees them as it ends). Idempotent.
   */
  @Override
  public void close() {
    List<Pending> cancelled = new ArrayList<>();
    lock.lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      for (Pending p; (p = waiting.poll()) != null; ) {
        cancelled.add(p);
      }
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    for (Pending p : cancelled) {
      p.future.completeExceptionally(new CancellationException("StreamSegmenter closed before frame "
          + p.sequence + " was segmented"));
    }
    boolean interrupted = false;
    for (Thread t : workers) {
      while (t.isAlive() && t != Thread.currentThread()) {
        try {
          t.join();
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * A frame given to a {@link StreamSegmenter} in {@link StreamSegmenter.Mode#LATEST_FRAME} mode was
   * not segmented: a newer frame replaced it while it waited, or every buffer was busy. Its future
   * is cancelled with this exception ({@code isCancelled()} is true), and {@link
   * StreamSegmenter#dropped()} counts it.
   */
  public static final class FrameDroppedException extends CancellationException {
    private static final long serialVersionUID = 1L;

    private final long sequence;

    FrameDroppedException(long sequence, String reason) {
      super("frame " + sequence + " dropped: " + reason);
      this.sequence = sequence;
    }

    /** The dropped frame's number in its stream (0 for the first frame submitted). */
    public long sequence() {
      return sequence;
    }
  }
}

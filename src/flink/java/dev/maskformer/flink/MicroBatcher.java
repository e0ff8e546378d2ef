// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.MaskFormerRuntime;
import dev.maskformer.Output.LabelType;
import dev.maskformer.Segmentation.Region;
import dev.maskformer.Frame;
import dev.maskformer.MaskFormer;
import dev.maskformer.Output;
import dev.maskformer.SegmentOptions;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.TimeUnit;

/**
 * Collects frames of equal size into batches (at most {@code config.batchFor(device)}, waiting at most {@code
 * maxDelay} after the first frame of a batch arrived) and segments each batch in one native call
 * on its worker threads.
 *
 * <p>Thread-safety: {@link #submit} may be called from any thread. Ownership: {@link #close()}
 * stops the workers (after their current batch) and frees their buffers; the model stays the
 * caller's.
 */
final class MicroBatcher implements AutoCloseable {
  /** Where one frame's outcome goes: exactly one of the two is called, once. */
  interface Callback {
    /** {@code segments}: the frame's segments when the batcher was made with segments, else null. */
    void done(SegmentedFrame result, List<Region> segments);

    void failed(Throwable error);
  }

  /** Observes batches (the operator's metrics). */
  interface Observer {
    void batch(int frames, long nanos);

    void frameDone(long latencyNanos);
  }

  private record Pending(VideoFrame frame, Callback callback, long arrived) {
    boolean sameSize(VideoFrame other) {
      return frame.width() == other.width() && frame.height() == other.height()
          && frame.format() == other.format();
    }
  }

  private final MaskFormer model;
  private final SegmentConfig config;
  private final Observer observer;
  private final LabelType labelType;
  private final int maxBatch;
  private final SegmentOptions options;
  private final boolean segments;
  private final LinkedBlockingDeque<Pending> queue = new LinkedBlockingDeque<>();
  private final Object forming = new Object(); // one worker forms a batch at a time
  private final List<Thread> workers = new ArrayList<>();
  private volatile boolean closed;

  /** {@code segments}: whether each result comes with its segments (MaskFormer's default rule). */
  MicroBatcher(MaskFormer model, SegmentConfig config, boolean segments, Observer observer,
      String name) {
    this.model = model;
    this.config = config;
    this.observer = observer;
    this.labelType = LabelType.forClasses(model.numClasses());
    this.maxBatch = config.batchFor(model.info().device());
    this.segments = segments;
    this.options = SegmentOptions.DEFAULTS.withResize(config.resize()).withRegions(segments);
    for (int i = 0; i < config.workers(); i++) {
      Thread t = new Thread(this::work, name + "-" + i);
      t.setDaemon(true);
      workers.add(t);
      t.start();
    }
  }

  /** Queues a frame; its callback runs on a worker thread. */
  void submit(VideoFrame frame, Callback callback) {
    if (closed) {
      throw new IllegalStateException("the segmentation batcher is closed");
    }
    queue.add(new Pending(frame, callback, System.nanoTime()));
  }

  /** Frames waiting for a batch. */
  int queued() {
    return queue.size();
  }

  private void work() {
    Buffers buffers = new Buffers();
    try {
      while (!closed) {
        List<Pending> batch;
        try {
          synchronized (forming) {
            batch = nextBatch();
          }
        } catch (InterruptedException e) {
          return;
        }
        if (!batch.isEmpty()) {
          run(batch, buffers);
        }
      }
    } finally {
      buffers.close();
    }
  }

  private List<Pending> nextBatch() throws InterruptedException {
    List<Pending> batch = new ArrayList<>();
    Pending first = queue.poll(100, TimeUnit.MILLISECONDS);
    if (first == null) {
      return batch;
    }
    batch.add(first);
    long deadline = first.arrived() + config.maxDelay().toNanos();
    while (batch.size() < maxBatch) {
      long wait = deadline - System.nanoTime();
      Pending next = wait > 0 ? queue.poll(wait, TimeUnit.NANOSECONDS) : queue.poll();
      if (next == null) {
        break;
      }
      if (!first.sameSize(next.frame())) {
        queue.addFirst(next); // starts the next batch
        break;
      }
      batch.add(next);
    }
    return batch;
  }

  private void run(List<Pending> batch, Buffers buffers) {
    long t0 = System.nanoTime();
    List<SegmentedFrame> results = new ArrayList<>(batch.size());
    List<List<Region>> found;
    try {
      VideoFrame shape = batch.get(0).frame();
      long frameBytes = shape.pixels().length;
      long labelBytes = (long) shape.width() * shape.height() * labelType.bytes();
      buffers.ensure(batch.size(), frameBytes, labelBytes);
      List<Frame> frames = new ArrayList<>(batch.size());
      List<Output> outputs = new ArrayList<>(batch.size());
      for (int i = 0; i < batch.size(); i++) {
        VideoFrame f = batch.get(i).frame();
        MemorySegment px = buffers.frames.get(i).asSlice(0, frameBytes);
        MemorySegment.copy(f.pixels(), 0, px, ValueLayout.JAVA_BYTE, 0, f.pixels().length);
        frames.add(new Frame(px, f.layout()));
        outputs.add(Output.labels(buffers.labels.get(i).asSlice(0, labelBytes), labelType));
      }
      found = model.segment(frames, outputs, options);
      for (int i = 0; i < batch.size(); i++) {
        VideoFrame f = batch.get(i).frame();
        byte[] labels = outputs.get(i).labels().toArray(ValueLayout.JAVA_BYTE);
        long[] histogram = config.histogram() ? histogram(labels) : null;
        results.add(new SegmentedFrame(f.streamId(), f.frameIndex(), f.timestamp(), f.width(),
            f.height(), labelType, labels, histogram, config.keepSource() ? f : null));
      }
    } catch (Throwable t) {
      batch.forEach(p -> p.callback().failed(t));
      return;
    }
    long t1 = System.nanoTime();
    observer.batch(batch.size(), t1 - t0);
    for (int i = 0; i < batch.size(); i++) {
      Pending p = batch.get(i);
      p.callback().done(results.get(i), segments ? found.get(i) : null);
      observer.frameDone(t1 - p.arrived());
    }
  }

  private long[] histogram(byte[] labels) {
    long[] counts = new long[model.numClasses()];
    if (labelType == LabelType.U8) {
      for (byte b : labels) {
        counts[Byte.toUnsignedInt(b)]++;
      }
    } else {
      MemorySegment s = MemorySegment.ofArray(labels);
      for (long i = 0; i < labels.length; i += 4) {
        counts[s.get(ValueLayout.JAVA_INT_UNALIGNED, i)]++;
      }
    }
    return counts;
  }

  /**
   * Off-heap frame and label buffers of one worker, reused across batches (pinned with CUDA, via
   * {@link MaskFormerRuntime#allocateHost}); reallocated, all at once, only when a batch needs more.
   */
  private static final class Buffers implements AutoCloseable {
    private Arena arena;
    final List<MemorySegment> frames = new ArrayList<>();
    final List<MemorySegment> labels = new ArrayList<>();
    private long frameBytes;
    private long labelBytes;

    void ensure(int count, long needFrame, long needLabel) {
      if (count <= frames.size() && needFrame <= frameBytes && needLabel <= labelBytes) {
        return;
      }
      close();
      count = Math.max(count, frames.size());
      frameBytes = Math.max(frameBytes, needFrame);
      labelBytes = Math.max(labelBytes, needLabel);
      frames.clear();
      labels.clear();
      arena = Arena.ofConfined();
      for (int i = 0; i < count; i++) {
        frames.add(MaskFormerRuntime.allocateHost(arena, frameBytes));
        labels.add(MaskFormerRuntime.allocateHost(arena, labelBytes));
      }
    }

    @Override
    public void close() {
      if (arena != null) {
        arena.close();
        arena = null;
      }
    }
  }

  /** Stops taking frames, lets each worker finish its batch, frees the buffers. */
  @Override
  public void close() {
    closed = true;
    for (Thread t : workers) {
      t.interrupt();
    }
    boolean interrupted = false;
    for (Thread t : workers) {
      while (t.isAlive()) {
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
}

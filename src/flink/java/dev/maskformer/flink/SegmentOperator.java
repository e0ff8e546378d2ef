// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.Segmentation.Region;
import dev.maskformer.Device;
import dev.maskformer.LoadOptions;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.flink.api.common.operators.MailboxExecutor;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MeterView;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.AbstractStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.ChainingStrategy;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.StreamOperator;
import org.apache.flink.streaming.api.operators.StreamOperatorParameters;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.api.operators.StreamingRuntimeContext;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.util.FlinkRuntimeException;

/**
 * The operator behind {@link MaskFormerFlink#segment}: frames go to the subtask's {@link
 * MicroBatcher} (worker threads, batches of equal-size frames, the TaskManager's shared model from
 * {@link SharedModels}); results come back to the task thread through its mailbox and leave in
 * input order (ordered mode) or as they finish (unordered; never across a watermark).
 *
 * <p><b>Checkpoints hold no frames.</b> Before a checkpoint barrier passes this operator ({@link
 * #prepareSnapshotPreBarrier}), every frame in flight is finished and its result emitted, so the
 * operator's checkpoint state is empty: the frames it has taken are all downstream of the barrier,
 * those not taken are upstream (the source's checkpointed position re-reads them after a
 * restore). Flink's async I/O operator, which this replaced, keeps its in-flight records in the
 * checkpoint instead: {@code capacity} whole frames, 14.7 MB for 16 frames of 640x480, three times
 * what Flink's default checkpoint storage (the JobManager's memory, 5 MiB) accepts. The price is
 * that a barrier waits here for at most {@code capacity} frames to finish.
 *
 * <p>At most {@code capacity} frames are in flight: a full operator blocks its input (yielding to
 * the mailbox, so results keep leaving). A frame not finished within {@code timeout} fails the
 * task, as does a failed segmentation.
 *
 * <p>Thread-safety: Flink calls every method on the task thread; worker threads only complete
 * entries and post mails.
 */
final class SegmentOperator extends AbstractStreamOperator<SegmentedFrame>
    implements OneInputStreamOperator<VideoFrame, SegmentedFrame>, BoundedOneInput {
  private static final long serialVersionUID = 1L;

  /** A record or a watermark in arrival order; records are completed by a worker thread. */
  private static final class Entry {
    final VideoFrame frame; // null for a watermark
    final Watermark watermark;
    final boolean hasTimestamp;
    final long timestamp;
    final long arrivedMs;
    volatile SegmentedFrame result;
    volatile Throwable error;

    Entry(VideoFrame frame, boolean hasTimestamp, long timestamp, long arrivedMs) {
      this.frame = frame;
      this.watermark = null;
      this.hasTimestamp = hasTimestamp;
      this.timestamp = timestamp;
      this.arrivedMs = arrivedMs;
    }

    Entry(Watermark watermark) {
      this.frame = null;
      this.watermark = watermark;
      this.hasTimestamp = false;
      this.timestamp = 0;
      this.arrivedMs = 0;
    }

    boolean done() {
      return watermark != null || result != null || error != null;
    }
  }

  private final SegmentConfig config;
  private final transient MailboxExecutor mailbox;
  private transient SharedModels.Lease lease;
  private transient MicroBatcher batcher;
  private transient ArrayDeque<Entry> inFlight;
  private transient int records; // entries of inFlight that are records
  private transient ScheduledFuture<?> timeoutTimer;

  SegmentOperator(StreamOperatorParameters<SegmentedFrame> parameters, SegmentConfig config) {
    super(parameters);
    this.config = config;
    this.mailbox = parameters.getMailboxExecutor();
  }

  @Override
  public void open() throws Exception {
    super.open();
    inFlight = new ArrayDeque<>();
    StreamingRuntimeContext rc = getRuntimeContext();
    int subtask = rc.getTaskInfo().getIndexOfThisSubtask();
    Device device = config.device() != null ? Device.parse(config.device())
        : Devices.choose(rc.getExternalResourceInfos(config.gpuResource()), subtask);
    lease = SharedModels.acquire(Path.of(config.modelPath()),
        LoadOptions.DEFAULTS.withDevice(device).withPrecision(config.precision()));
    try {
      batcher = new MicroBatcher(lease.model(), config, false,
          metrics(getMetricGroup().addGroup("maskformer"), device),
          "maskformer-" + rc.getTaskInfo().getTaskNameWithSubtasks());
    } catch (RuntimeException | Error e) {
      lease.close();
      lease = null;
      throw e;
    }
    MicroBatcher b = batcher;
    getMetricGroup().addGroup("maskformer").gauge("queued", (Gauge<Integer>) b::queued);
  }

  /** The operator's metrics, fed by the batcher (also those of the SQL model provider). */
  static MicroBatcher.Observer metrics(MetricGroup group, Device device) {
    Counter frames = group.counter("framesSegmented");
    group.meter("framesPerSecond", new MeterView(frames));
    Counter batches = group.counter("batches");
    SlidingHistogram batchSize = group.histogram("batchSize", new SlidingHistogram(1024));
    SlidingHistogram batchMs = group.histogram("batchMs", new SlidingHistogram(1024));
    SlidingHistogram latencyMs = group.histogram("latencyMs", new SlidingHistogram(1024));
    String deviceName = device.toString();
    group.gauge("device", (Gauge<String>) () -> deviceName);
    return new MicroBatcher.Observer() {
      @Override
      public void batch(int n, long nanos) {
        frames.inc(n);
        batches.inc();
        batchSize.update(n);
        batchMs.update(TimeUnit.NANOSECONDS.toMillis(nanos));
      }

      @Override
      public void frameDone(long latencyNanos) {
        latencyMs.update(TimeUnit.NANOSECONDS.toMillis(latencyNanos));
      }
    };
  }

  @Override
  public void processElement(StreamRecord<VideoFrame> record) throws Exception {
    while (records >= config.capacity()) {
      mailbox.yield(); // results (and timeouts) arrive as mails
    }
    // the value and timestamp, not the record: with object reuse Flink refills record objects
    long now = getProcessingTimeService().getCurrentProcessingTime();
    Entry e = new Entry(record.getValue(), record.hasTimestamp(), record.getTimestamp(), now);
    inFlight.add(e);
    records++;
    if (timeoutTimer == null) {
      timeoutTimer = getProcessingTimeService().registerTimer(now + config.timeout().toMillis(),
          t -> checkTimeouts());
    }
    batcher.submit(e.frame, new MicroBatcher.Callback() {
      @Override
      public void done(SegmentedFrame result, List<Region> segments) {
        e.result = result;
        resultArrived();
      }

      @Override
      public void failed(Throwable error) {
        e.error = error;
        resultArrived();
      }
    });
  }

  /** On a worker thread: has the task thread emit what is done. */
  private void resultArrived() {
    try {
      mailbox.execute(this::emitDone, "maskformer result");
    } catch (RejectedExecutionException closing) {
      // the task is being cancelled: its in-flight frames are read again after the restore
    }
  }

  @Override
  public void processWatermark(Watermark mark) throws Exception {
    inFlight.add(new Entry(mark));
    emitDone();
  }

  /** Emits finished results (and the watermarks they free) in the mode's order. */
  private void emitDone() throws Exception {
    while (!inFlight.isEmpty()) {
      Entry head = inFlight.peek();
      if (head.watermark != null) {
        inFlight.poll();
        super.processWatermark(head.watermark);
        continue;
      }
      if (config.ordered()) {
        if (!head.done()) {
          return;
        }
        inFlight.poll();
        emit(head);
        continue;
      }
      // unordered: whatever is done ahead of the first watermark
      Iterator<Entry> it = inFlight.iterator();
      while (it.hasNext()) {
        Entry e = it.next();
        if (e.watermark != null) {
          break;
        }
        if (e.done()) {
          it.remove();
          emit(e);
        }
      }
      if (inFlight.isEmpty() || inFlight.peek().watermark == null) {
        return;
      }
    }
  }

  private void emit(Entry e) {
    records--;
    if (e.error != null) {
      throw new FlinkRuntimeException("segmenting " + e.frame + " failed: " + e.error, e.error);
    }
    output.collect(e.hasTimestamp ? new StreamRecord<>(e.result, e.timestamp) : new StreamRecord<>(e.result));
  }

  /** A timer: fails the task when a frame has waited too long, else waits for the next one. */
  private void checkTimeouts() throws TimeoutException {
    timeoutTimer = null;
    long now = getProcessingTimeService().getCurrentProcessingTime();
    long limit = config.timeout().toMillis();
    for (Entry e : inFlight) {
      if (e.watermark == null && !e.done()) {
        if (now - e.arrivedMs >= limit) {
          throw new TimeoutException("segmenting " + e.frame + " took longer than the timeout of "
              + config.timeout() + " (SegmentConfig.withTimeout)");
        }
        timeoutTimer = getProcessingTimeService().registerTimer(e.arrivedMs + limit, t -> checkTimeouts());
        return;
      }
    }
  }

  /** Finishes every frame in flight and emits its result. */
  private void drain() throws Exception {
    emitDone();
    while (!inFlight.isEmpty()) {
      mailbox.yield();
      emitDone();
    }
  }

  /** Runs before the barrier is sent on: nothing in flight remains for the checkpoint. */
  @Override
  public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
    super.prepareSnapshotPreBarrier(checkpointId);
    drain();
  }

  /** Nothing to keep: {@link #prepareSnapshotPreBarrier} emptied the operator. */
  @Override
  public void snapshotState(StateSnapshotContext context) throws Exception {
    super.snapshotState(context);
    if (!inFlight.isEmpty()) {
      throw new IllegalStateException("maskformer-segment: " + inFlight.size()
          + " entries in flight at a snapshot, after they were drained before the barrier");
    }
  }

  @Override
  public void endInput() throws Exception {
    drain();
  }

  @Override
  public void close() throws Exception {
    try {
      if (timeoutTimer != null) {
        timeoutTimer.cancel(false);
        timeoutTimer = null;
      }
      if (batcher != null) {
        batcher.close();
      }
    } finally {
      batcher = null;
      try {
        if (lease != null) {
          lease.close();
          lease = null;
        }
      } finally {
        super.close();
      }
    }
  }

  /** Creates the operator in each subtask (it needs the task's mailbox). */
  static final class Factory extends AbstractStreamOperatorFactory<SegmentedFrame>
      implements OneInputStreamOperatorFactory<VideoFrame, SegmentedFrame> {
    private static final long serialVersionUID = 1L;
    private final SegmentConfig config;

    Factory(SegmentConfig config) {
      this.config = config;
      this.chainingStrategy = ChainingStrategy.ALWAYS;
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T extends StreamOperator<SegmentedFrame>> T createStreamOperator(
        StreamOperatorParameters<SegmentedFrame> parameters) {
      return (T) new SegmentOperator(parameters, config);
    }

    @Override
    @SuppressWarnings("rawtypes")
    public Class<? extends StreamOperator> getStreamOperatorClass(ClassLoader classLoader) {
      return SegmentOperator.class;
    }
  }
}

// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.Device;
import dev.maskformer.LoadOptions;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RuntimeContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MeterView;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.streaming.api.functions.async.ResultFuture;
import org.apache.flink.streaming.api.functions.async.RichAsyncFunction;

/**
 * The async function behind {@link MaskFormerFlink#segment}: each subtask leases the shared model
 * of its TaskManager JVM and device ({@link SharedModels}) and hands frames to its own {@link
 * MicroBatcher}. Use it through {@link MaskFormerFlink}, which sets the async operator's mode,
 * capacity and timeout.
 *
 * <p>Metrics (group {@code maskformer} of the operator): {@code framesSegmented} (counter), {@code
 * framesPerSecond} (meter), {@code batches} (counter), {@code batchSize} and {@code latencyMs}
 * (histograms of the last 1024 batches and frames; latency from arrival at the operator to the
 * result), {@code batchMs} (histogram of the native call), {@code queued} (gauge: frames waiting
 * for a batch), {@code device} (gauge).
 */
public final class SegmentFunction extends RichAsyncFunction<VideoFrame, SegmentedFrame> {
  private final SegmentConfig config;
  private transient SharedModels.Lease lease;
  private transient MicroBatcher batcher;

  public SegmentFunction(SegmentConfig config) {
    this.config = Objects.requireNonNull(config, "config");
  }

  @Override
  public void open(OpenContext context) throws Exception {
    RuntimeContext rc = getRuntimeContext();
    int subtask = rc.getTaskInfo().getIndexOfThisSubtask();
    Device device = config.device() != null ? Device.parse(config.device())
        : Devices.choose(rc.getExternalResourceInfos(config.gpuResource()), subtask);
    lease = SharedModels.acquire(Path.of(config.modelPath()),
        LoadOptions.DEFAULTS.withDevice(device).withPrecision(config.precision()));
    MetricGroup group = rc.getMetricGroup().addGroup("maskformer");
    Counter frames = group.counter("framesSegmented");
    group.meter("framesPerSecond", new MeterView(frames));
    Counter batches = group.counter("batches");
    SlidingHistogram batchSize = group.histogram("batchSize", new SlidingHistogram(1024));
    SlidingHistogram batchMs = group.histogram("batchMs", new SlidingHistogram(1024));
    SlidingHistogram latencyMs = group.histogram("latencyMs", new SlidingHistogram(1024));
    String deviceName = device.toString();
    group.gauge("device", (Gauge<String>) () -> deviceName);
    MicroBatcher.Observer observer = new MicroBatcher.Observer() {
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
    try {
      batcher = new MicroBatcher(lease.model(), config, observer,
          "maskformer-" + rc.getTaskInfo().getTaskNameWithSubtasks());
    } catch (RuntimeException | Error e) {
      lease.close();
      throw e;
    }
    MicroBatcher b = batcher;
    group.gauge("queued", (Gauge<Integer>) b::queued);
  }

  @Override
  public void asyncInvoke(VideoFrame frame, ResultFuture<SegmentedFrame> result) {
    batcher.submit(frame, new MicroBatcher.Callback() {
      @Override
      public void done(SegmentedFrame r) {
        result.complete(List.of(r));
      }

      @Override
      public void failed(Throwable error) {
        result.completeExceptionally(error);
      }
    });
  }

  @Override
  public void close() throws Exception {
    try {
      if (batcher != null) {
        batcher.close();
      }
    } finally {
      batcher = null;
      if (lease != null) {
        lease.close();
        lease = null;
      }
    }
  }
}

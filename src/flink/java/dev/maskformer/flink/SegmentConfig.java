// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.Device;
import dev.maskformer.Precision;
import java.io.Serializable;
import java.time.Duration;
import java.util.Objects;

/**
 * What {@link MaskFormerFlink#segment} does: which model, how frames are batched, how the operator
 * behaves. Serializable: it travels with the job graph.
 *
 * @param modelPath a TorchScript export, readable on every TaskManager
 * @param precision the network's precision
 * @param device {@code null} (default): a CUDA device from Flink's external resource named {@code
 *     gpuResource} when the TaskManager has one, else the CPU; otherwise this device ({@code cpu},
 *     {@code cuda:N}, as {@link Device#parse})
 * @param gpuResource the external resource name of GPUs ({@code external-resources: gpu})
 * @param maxBatch most frames in one native call (frames of equal size are batched); {@link
 *     #AUTO_BATCH} (the default): 1 on the CPU, 4 on CUDA, decided when the device is known
 *     (see {@link #batchFor})
 * @param maxDelay longest a frame waits for others to fill its batch
 * @param ordered {@code true}: results leave in the order frames came in (per subtask);
 *     {@code false}: as soon as they are done
 * @param capacity most frames in flight per subtask; a full operator back-pressures its input, and
 *     a checkpoint barrier waits for at most this many frames to finish (checkpoints hold none)
 * @param timeout a frame not done in this time fails the task (and Flink restarts it)
 * @param workers threads per subtask that call the model (batches in parallel)
 * @param histogram whether results carry pixels per class
 * @param keepSource whether results carry their input frame (for overlays)
 * @param resize the model's test-time resize rule ({@code true}) or the frame's own size
 */
public record SegmentConfig(String modelPath, Precision precision, String device,
    String gpuResource, int maxBatch, Duration maxDelay, boolean ordered, int capacity,
    Duration timeout, int workers, boolean histogram, boolean keepSource, boolean resize)
    implements Serializable {
  /** {@code maxBatch} that means: by device, {@link #batchFor}. */
  public static final int AUTO_BATCH = 0;

  public SegmentConfig {
    Objects.requireNonNull(modelPath, "modelPath");
    Objects.requireNonNull(precision, "precision");
    Objects.requireNonNull(gpuResource, "gpuResource");
    Objects.requireNonNull(maxDelay, "maxDelay");
    Objects.requireNonNull(timeout, "timeout");
    if (device != null) {
      device = Device.parse(device).toString(); // checked here, on the client
    }
    if (maxBatch < AUTO_BATCH || maxBatch > 1024) {
      throw new IllegalArgumentException("maxBatch must be 1..1024 or AUTO_BATCH (0), got " + maxBatch);
    }
    if (maxDelay.isNegative()) {
      throw new IllegalArgumentException("maxDelay must be >= 0, got " + maxDelay);
    }
    if (capacity < 1) {
      throw new IllegalArgumentException("capacity must be >= 1, got " + capacity);
    }
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("timeout must be > 0, got " + timeout);
    }
    if (workers < 1 || workers > 64) {
      throw new IllegalArgumentException("workers must be 1..64, got " + workers);
    }
  }

  /**
   * Defaults: fp32, device from the GPU resource else CPU, batches by device ({@link #batchFor}:
   * 1 frame on the CPU, up to 4 on CUDA) waiting at most 10 ms, ordered, 16 frames in flight, 60 s
   * timeout, one worker, no histogram, no source.
   */
  public static SegmentConfig of(String modelPath) {
    return new SegmentConfig(modelPath, Precision.FP32, null, "gpu", AUTO_BATCH, Duration.ofMillis(10),
        true, 16, Duration.ofSeconds(60), 1, false, false, true);
  }

  /**
   * The batch size on {@code device}: {@code maxBatch}, or for {@link #AUTO_BATCH} 1 on the CPU
   * and 4 on CUDA. On the CPU a batch costs as much per frame as single frames (measured, see
   * docs/flink.md) and multiplies the latency by its size; on a GPU batches fill the device.
   */
  public int batchFor(Device device) {
    Objects.requireNonNull(device, "device");
    return maxBatch != AUTO_BATCH ? maxBatch : device.isCuda() ? 4 : 1;
  }

  public SegmentConfig withPrecision(Precision p) {
    return new SegmentConfig(modelPath, p, device, gpuResource, maxBatch, maxDelay, ordered, capacity,
        timeout, workers, histogram, keepSource, resize);
  }

  /** A fixed device instead of the GPU resource's; {@code null} restores the automatic choice. */
  public SegmentConfig withDevice(Device d) {
    return new SegmentConfig(modelPath, precision, d == null ? null : d.toString(), gpuResource, maxBatch, maxDelay, ordered,
        capacity, timeout, workers, histogram, keepSource, resize);
  }

  public SegmentConfig withGpuResource(String name) {
    return new SegmentConfig(modelPath, precision, device, name, maxBatch, maxDelay, ordered,
        capacity, timeout, workers, histogram, keepSource, resize);
  }

  /** At most {@code max} frames a call ({@link #AUTO_BATCH}: by device), waiting at most {@code delay}. */
  public SegmentConfig withBatching(int max, Duration delay) {
    return new SegmentConfig(modelPath, precision, device, gpuResource, max, delay, ordered, capacity,
        timeout, workers, histogram, keepSource, resize);
  }

  public SegmentConfig withOrdered(boolean keepOrder) {
    return new SegmentConfig(modelPath, precision, device, gpuResource, maxBatch, maxDelay, keepOrder,
        capacity, timeout, workers, histogram, keepSource, resize);
  }

  public SegmentConfig withCapacity(int frames) {
    return new SegmentConfig(modelPath, precision, device, gpuResource, maxBatch, maxDelay, ordered,
        frames, timeout, workers, histogram, keepSource, resize);
  }

  public SegmentConfig withTimeout(Duration t) {
    return new SegmentConfig(modelPath, precision, device, gpuResource, maxBatch, maxDelay, ordered,
        capacity, t, workers, histogram, keepSource, resize);
  }

  public SegmentConfig withWorkers(int n) {
    return new SegmentConfig(modelPath, precision, device, gpuResource, maxBatch, maxDelay, ordered,
        capacity, timeout, n, histogram, keepSource, resize);
  }

  public SegmentConfig withHistogram(boolean wanted) {
    return new SegmentConfig(modelPath, precision, device, gpuResource, maxBatch, maxDelay, ordered,
        capacity, timeout, workers, wanted, keepSource, resize);
  }

  public SegmentConfig withKeepSource(boolean wanted) {
    return new SegmentConfig(modelPath, precision, device, gpuResource, maxBatch, maxDelay, ordered,
        capacity, timeout, workers, histogram, wanted, resize);
  }

  public SegmentConfig withResize(boolean enabled) {
    return new SegmentConfig(modelPath, precision, device, gpuResource, maxBatch, maxDelay, ordered,
        capacity, timeout, workers, histogram, keepSource, enabled);
  }
}

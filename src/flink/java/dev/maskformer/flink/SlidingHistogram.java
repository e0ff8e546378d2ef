// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import java.util.Arrays;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.HistogramStatistics;

/**
 * A Flink histogram over the last {@code window} values (flink-metrics-core has the interface
 * only; the implementations live in flink-runtime or extra modules).
 *
 * <p>Thread-safety: updates and reads may come from any thread.
 */
public final class SlidingHistogram implements Histogram {
  private final long[] values;
  private long count;

  public SlidingHistogram(int window) {
    if (window < 1) {
      throw new IllegalArgumentException("window must be >= 1, got " + window);
    }
    values = new long[window];
  }

  @Override
  public synchronized void update(long value) {
    values[(int) (count % values.length)] = value;
    count++;
  }

  @Override
  public synchronized long getCount() {
    return count;
  }

  @Override
  public synchronized HistogramStatistics getStatistics() {
    long[] window = Arrays.copyOf(values, (int) Math.min(count, values.length));
    Arrays.sort(window);
    return new Statistics(window);
  }

  /** A sorted snapshot of the window. */
  private static final class Statistics extends HistogramStatistics {
    private final long[] sorted;

    Statistics(long[] sorted) {
      this.sorted = sorted;
    }

    @Override
    public double getQuantile(double q) {
      if (sorted.length == 0) {
        return 0;
      }
      // nearest rank
      int i = (int) Math.ceil(Math.min(Math.max(q, 0), 1) * sorted.length) - 1;
      return sorted[Math.max(i, 0)];
    }

    @Override
    public long[] getValues() {
      return sorted.clone();
    }

    @Override
    public int size() {
      return sorted.length;
    }

    @Override
    public double getMean() {
      return sorted.length == 0 ? 0 : Arrays.stream(sorted).average().orElse(0);
    }

    @Override
    public double getStdDev() {
      if (sorted.length < 2) {
        return 0;
      }
      double mean = getMean();
      double sum = 0;
      for (long v : sorted) {
        sum += (v - mean) * (v - mean);
      }
      return Math.sqrt(sum / (sorted.length - 1));
    }

    @Override
    public long getMax() {
      return sorted.length == 0 ? 0 : sorted[sorted.length - 1];
    }

    @Override
    public long getMin() {
      return sorted.length == 0 ? 0 : sorted[0];
    }
  }
}

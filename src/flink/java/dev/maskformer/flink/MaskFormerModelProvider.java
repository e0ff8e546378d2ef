// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.ModelInfo.ClassInfo;
import dev.maskformer.Segmentation.Region;
import dev.maskformer.Device;
import dev.maskformer.LoadOptions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.apache.flink.table.api.TableException;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.functions.AsyncPredictFunction;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.PredictFunction;
import org.apache.flink.table.ml.AsyncPredictRuntimeProvider;
import org.apache.flink.table.ml.PredictRuntimeProvider;

/**
 * The runtime side of the {@code 'maskformer'} model provider: an async predict function (the
 * planner's default when a provider offers one) with the DataStream operator's batching and
 * shared models, and a sync one for {@code ML_PREDICT(..., MAP['async', 'false'])}.
 *
 * <p>Thread-safety: immutable; each function instance belongs to one subtask.
 */
public final class MaskFormerModelProvider
    implements AsyncPredictRuntimeProvider, PredictRuntimeProvider {
  private final ModelSpec spec;

  MaskFormerModelProvider(ModelSpec spec) {
    this.spec = Objects.requireNonNull(spec, "spec");
  }

  @Override
  public AsyncPredictFunction createAsyncPredictFunction(Context context) {
    return new Async(spec);
  }

  @Override
  public PredictFunction createPredictFunction(Context context) {
    return new Sync(spec);
  }

  @Override
  public MaskFormerModelProvider copy() {
    return new MaskFormerModelProvider(spec); // immutable
  }

  /**
   * One subtask's use of the model: a lease of the TaskManager's shared model and a {@link
   * MicroBatcher}. Rows are decoded on the calling (task) thread; the label PNG and the other
   * outputs are made on the batcher's worker thread.
   */
  private static final class Predictor implements AutoCloseable {
    private final ModelSpec spec;
    private final SharedModels.Lease lease;
    private final MicroBatcher batcher;
    private final List<ClassInfo> classes;

    Predictor(ModelSpec spec, SegmentConfig config, FunctionContext context) {
      this.spec = spec;
      int subtask = context.getTaskInfo().getIndexOfThisSubtask();
      Device device = config.device() != null ? Device.parse(config.device())
          : Devices.choose(context.getExternalResourceInfos(config.gpuResource()), subtask);
      lease = SharedModels.acquire(Path.of(config.modelPath()),
          LoadOptions.DEFAULTS.withDevice(device).withPrecision(config.precision()));
      try {
        classes = lease.model().info().classes();
        batcher = new MicroBatcher(lease.model(), config.withHistogram(spec.wants(ModelSpec.Out.CLASSES)),
            spec.wants(ModelSpec.Out.SEGMENTS),
            SegmentOperator.metrics(context.getMetricGroup().addGroup("maskformer"), device),
            "maskformer-" + spec.model + "-" + context.getTaskInfo().getTaskNameWithSubtasks());
      } catch (RuntimeException | Error e) {
        lease.close();
        throw e;
      }
    }

    /** The result rows of one input row: one row, or a failed future (bad row under 'fail'). */
    CompletableFuture<Collection<RowData>> predict(RowData row) {
      VideoFrame frame;
      try {
        frame = spec.frame(row);
      } catch (ModelSpec.BadRowException e) {
        if (spec.onError == ModelSpec.OnError.NULL) {
          return CompletableFuture.completedFuture(List.of(spec.nullRow(e.getMessage())));
        }
        return CompletableFuture.failedFuture(new IllegalArgumentException("ML_PREDICT with model "
            + spec.model + ": bad row (" + e.getMessage() + "); set 'on-error' = 'null' in the"
            + " model's options to give such rows null results instead", e));
      }
      CompletableFuture<Collection<RowData>> out = new CompletableFuture<>();
      batcher.submit(frame, new MicroBatcher.Callback() {
        @Override
        public void done(SegmentedFrame result, List<Region> segments) {
          try {
            out.complete(List.of(spec.row(result, segments, classes)));
          } catch (RuntimeException | Error e) {
            out.completeExceptionally(e);
          }
        }

        @Override
        public void failed(Throwable error) {
          out.completeExceptionally(error);
        }
      });
      return out;
    }

    @Override
    public void close() {
      try {
        batcher.close();
      } finally {
        lease.close();
      }
    }
  }

  /**
   * Rows go to the batcher and complete when their batch is done. Public only because the
   * planner's generated code names it.
   */
  public static final class Async extends AsyncPredictFunction {
    private static final long serialVersionUID = 1L;
    private final ModelSpec spec;
    private transient Predictor predictor;

    Async(ModelSpec spec) {
      this.spec = spec;
    }

    @Override
    public void open(FunctionContext context) throws Exception {
      predictor = new Predictor(spec, spec.config, context);
    }

    @Override
    public CompletableFuture<Collection<RowData>> asyncPredict(RowData row) {
      return predictor.predict(row);
    }

    /**
     * As {@link AsyncPredictFunction#eval}, but a failure names the model and the row's problem,
     * not the row (whose text would hold every byte of its image).
     */
    @Override
    public void eval(CompletableFuture<Collection<RowData>> future, Object... args) {
      predictor.predict(GenericRowData.of(args)).whenComplete((rows, error) -> {
        if (error == null) {
          future.complete(rows);
        } else {
          Throwable cause = error instanceof CompletionException c && c.getCause() != null
              ? c.getCause() : error;
          future.completeExceptionally(new TableException("ML_PREDICT with model " + spec.model
              + " failed: " + cause.getMessage(), cause));
        }
      });
    }

    @Override
    public void close() throws Exception {
      if (predictor != null) {
        predictor.close();
        predictor = null;
      }
    }
  }

  /**
   * One row at a time on the task thread: batches of one, no waiting for others. Public only
   * because the planner's generated code names it.
   */
  public static final class Sync extends PredictFunction {
    private static final long serialVersionUID = 1L;
    private final ModelSpec spec;
    private transient Predictor predictor;

    Sync(ModelSpec spec) {
      this.spec = spec;
    }

    @Override
    public void open(FunctionContext context) throws Exception {
      predictor = new Predictor(spec, spec.config.withBatching(1, Duration.ZERO).withWorkers(1), context);
    }

    @Override
    public Collection<RowData> predict(RowData row) {
      try {
        return predictor.predict(row).join();
      } catch (CompletionException e) {
        throw e.getCause() instanceof RuntimeException r ? r : e;
      }
    }

    @Override
    public void close() throws Exception {
      if (predictor != null) {
        predictor.close();
        predictor = null;
      }
    }
  }
}

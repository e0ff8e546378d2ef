// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.Device;
import dev.maskformer.images.Images;
import dev.maskformer.Precision;
import java.time.Duration;
import java.util.Locale;
import java.util.Set;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.factories.ModelProviderFactory;
import org.apache.flink.table.ml.ModelProvider;

/**
 * Flink SQL's model provider {@code 'maskformer'}: semantic segmentation in {@code ML_PREDICT}.
 *
 * <pre>{@code
 * CREATE MODEL seg
 *   INPUT (image BYTES)
 *   OUTPUT (labels BYTES, classes ARRAY<ROW<label INT, name STRING, pixels BIGINT>>)
 *   WITH ('provider' = 'maskformer', 'path' = '/models/swin-tiny.pt');
 * SELECT name, classes FROM ML_PREDICT(TABLE frames, MODEL seg, DESCRIPTOR(image));
 * }</pre>
 *
 * <p>The model's INPUT is either one {@code BYTES} column (an encoded PNG, JPEG, BMP or GIF) or
 * the four columns {@code pixels BYTES, width INT, height INT, format STRING} (packed 8-bit
 * pixels; format {@code RGB}, {@code BGR}, {@code RGBA} or {@code BGRA}), matched by name. The
 * OUTPUT columns are picked by name from {@link ModelSpec.Out}. Options are those of {@link
 * #requiredOptions()} and {@link #optionalOptions()}; docs/flink.md has the table. Found by
 * Flink's factory discovery ({@code META-INF/services/org.apache.flink.table.factories.Factory}).
 */
public final class MaskFormerModelProviderFactory implements ModelProviderFactory {
  /** The value of {@code 'provider'}. */
  public static final String IDENTIFIER = "maskformer";

  public static final ConfigOption<String> PATH = ConfigOptions.key("path").stringType()
      .noDefaultValue().withDescription("The TorchScript export, readable on every TaskManager.");
  public static final ConfigOption<String> DEVICE = ConfigOptions.key("device").stringType()
      .noDefaultValue().withDescription("'cpu' or 'cuda:N'; by default a GPU of the TaskManager's"
          + " external resource 'gpu-resource' when it has one, else the CPU.");
  public static final ConfigOption<String> GPU_RESOURCE = ConfigOptions.key("gpu-resource")
      .stringType().defaultValue("gpu").withDescription("Flink's external resource name of GPUs.");
  public static final ConfigOption<String> PRECISION = ConfigOptions.key("precision").stringType()
      .defaultValue("fp32").withDescription("fp32, fp16 or bf16.");
  public static final ConfigOption<Integer> BATCH_SIZE = ConfigOptions.key("batch-size").intType()
      .defaultValue(SegmentConfig.AUTO_BATCH).withDescription("Most rows of equal image size in one"
          + " native call (async); 0 (the default): 1 on the CPU, 4 on CUDA.");
  public static final ConfigOption<Duration> BATCH_DELAY = ConfigOptions.key("batch-delay")
      .durationType().defaultValue(Duration.ofMillis(10))
      .withDescription("Longest a row waits for others to fill its batch (async).");
  public static final ConfigOption<Integer> WORKERS = ConfigOptions.key("workers").intType()
      .defaultValue(1).withDescription("Threads per subtask calling the model (async).");
  public static final ConfigOption<Boolean> RESIZE = ConfigOptions.key("resize").booleanType()
      .defaultValue(true).withDescription("The model's test-time resize rule (true) or each image's"
          + " own size (false).");
  public static final ConfigOption<Long> MAX_PIXELS = ConfigOptions.key("max-pixels").longType()
      .defaultValue(Images.DEFAULT_MAX_PIXELS).withDescription("Rows whose image has more pixels"
          + " (width x height) are bad rows; encoded images are refused by their header, before"
          + " decoding.");
  public static final ConfigOption<ModelSpec.OnError> ON_ERROR = ConfigOptions.key("on-error")
      .enumType(ModelSpec.OnError.class).defaultValue(ModelSpec.OnError.FAIL)
      .withDescription("Bad rows (null, undecodable, damaged, too large, wrong pixel count or"
          + " format): 'fail' fails the job with the reason; 'null' gives the row null results"
          + " (and the reason in an 'error' output column, if declared).");

  @Override
  public String factoryIdentifier() {
    return IDENTIFIER;
  }

  @Override
  public Set<ConfigOption<?>> requiredOptions() {
    return Set.of(PATH);
  }

  @Override
  public Set<ConfigOption<?>> optionalOptions() {
    return Set.of(DEVICE, GPU_RESOURCE, PRECISION, BATCH_SIZE, BATCH_DELAY, WORKERS, RESIZE,
        MAX_PIXELS, ON_ERROR);
  }

  /**
   * Checks the options and the model's schema (nothing is loaded here: the planner may run where
   * no model file and no native library are).
   *
   * @throws ValidationException unknown or invalid options, INPUT or OUTPUT columns that this
   *     provider does not know or whose types differ
   */
  @Override
  public ModelProvider createModelProvider(Context context) {
    FactoryUtil.ModelProviderFactoryHelper helper =
        FactoryUtil.createModelProviderFactoryHelper(this, context);
    helper.validate();
    ReadableConfig options = helper.getOptions();
    SegmentConfig config;
    try {
      config = SegmentConfig.of(options.get(PATH))
          .withPrecision(precision(options.get(PRECISION)))
          .withDevice(options.getOptional(DEVICE).map(Device::parse).orElse(null))
          .withGpuResource(options.get(GPU_RESOURCE))
          .withBatching(options.get(BATCH_SIZE), options.get(BATCH_DELAY))
          .withWorkers(options.get(WORKERS))
          .withResize(options.get(RESIZE));
    } catch (IllegalArgumentException e) {
      throw new ValidationException("model " + context.getObjectIdentifier().asSummaryString()
          + ": " + e.getMessage(), e);
    }
    long maxPixels = options.get(MAX_PIXELS);
    if (maxPixels < 1 || maxPixels > Images.MAX_PIXELS_LIMIT) {
      throw new ValidationException("model " + context.getObjectIdentifier().asSummaryString()
          + ": 'max-pixels' must be 1.." + Images.MAX_PIXELS_LIMIT + ", got " + maxPixels);
    }
    ModelSpec spec = ModelSpec.of(context.getObjectIdentifier().asSummaryString(),
        context.getCatalogModel(), config, maxPixels, options.get(ON_ERROR));
    return new MaskFormerModelProvider(spec);
  }

  private static Precision precision(String text) {
    try {
      return Precision.valueOf(text.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("'precision' must be fp32, fp16 or bf16, got '" + text + "'");
    }
  }
}

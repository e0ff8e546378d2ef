// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import java.util.List;

/**
 * What a loaded model is: its classes, input normalisation, test-time resize rule, where and how
 * it runs, and the full metadata JSON stored in the export.
 *
 * @param path the file it was loaded from
 * @param variant variant name (swin-tiny, swin-small, swin-base, demo, ...), "" if not recorded
 * @param classes every class in label order
 * @param numQueries number of mask queries
 * @param mean normalisation mean per RGB channel, on 0..255 values
 * @param std normalisation standard deviation per RGB channel
 * @param resizeLong test-time resize: long side at most this (0: no resize)
 * @param resizeShort test-time resize: short side at most this (0: no resize)
 * @param formatVersion version of the metadata format
 * @param device where the model runs
 * @param precision precision of the network
 * @param metadataJson the maskformer.json text of the export
 * @param cpuRewrites what was done to a TorchScript network on the CPU ({@link CpuRewrites}):
 *     {@code "none"}, {@code "none (...)"} with the reason (turned off; the rewritten network
 *     failed the load's test forward pass, or its comparison with the exported one when made in
 *     the background), or the rewrites with their counts and cost, e.g. {@code "freeze,linear,
 *     gelu,conv,channels_last,winograd,attention: 59 linear (10 with GELU), 14 conv (11 with ReLU)
 *     on oneDNN, 0 conv as Winograd (0 with ReLU), 10 window attention fused (rewrites 140 ms)"},
 *     followed by {@code ", checked in the background (...)"} when they were
 *     made there; {@code "in the background (...)"} while they are being made ({@link
 *     MaskFormer#info()} then reads it anew; {@link MaskFormer#awaitCpuRewrites()} waits)
 */
public record ModelInfo(
    String path,
    String variant,
    List<ClassInfo> classes,
    int numQueries,
    List<Double> mean,
    List<Double> std,
    int resizeLong,
    int resizeShort,
    int formatVersion,
    Device device,
    Precision precision,
    String metadataJson,
    String cpuRewrites) {

  /** How {@link #cpuRewrites()} begins while the rewrites are made in the background. */
  public static final String REWRITES_PENDING = "in the background";

  ModelInfo withCpuRewrites(String now) {
    return new ModelInfo(path, variant, classes, numQueries, mean, std, resizeLong, resizeShort, formatVersion,
        device, precision, metadataJson, now);
  }

  /** Number of classes K; labels are 0..K-1. */
  public int numClasses() {
    return classes.size();
  }

  /**
   * One class of a model.
   *
   * @param label the value label maps use for it, 0..K-1
   * @param name its name from the metadata (ADE20k: WordNet synonyms, "building, edifice")
   * @param rgb its palette colour as 0xRRGGBB
   */
  public record ClassInfo(int label, String name, int rgb) {
    /** The first synonym: "building" for "building, edifice". */
    public String shortName() {
      int comma = name.indexOf(',');
      return (comma < 0 ? name : name.substring(0, comma)).trim();
    }
  }

  /** The file format of a loaded model (models/export.py --format). */
  public enum ModelFormat {
    /** A TorchScript archive (.pt): runs at any network size, on any device, in any precision. */
    TORCHSCRIPT,
    /**
     * An AOTInductor package (.pt2): code compiled ahead of time for one device, one precision and
     * the network sizes it lists. Loading one runs native code from the file ({@link
     * LoadOptions#withTrustedNativeCode(boolean)}).
     */
    AOTI;

    static ModelFormat fromCode(int code) {
      return switch (code) {
        case 0 -> TORCHSCRIPT;
        case 1 -> AOTI;
        default -> throw new IllegalStateException("unknown model format code " + code);
      };
    }
  }
}

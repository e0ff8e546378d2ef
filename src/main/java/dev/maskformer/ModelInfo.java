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
    String metadataJson) {

  /** Number of classes K; labels are 0..K-1. */
  public int numClasses() {
    return classes.size();
  }
}

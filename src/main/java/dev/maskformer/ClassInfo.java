// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

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

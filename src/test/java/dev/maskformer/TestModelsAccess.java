// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import java.io.IOException;

/** Lets tests in other packages read the golden outputs. */
public final class TestModelsAccess {
  private TestModelsAccess() {}

  public static int[] goldenLabels(String model, String image) throws IOException {
    return TestModels.goldenLabels(model, image);
  }

  public static float[] goldenScores(String model, String image) throws IOException {
    return TestModels.goldenScores(model, image);
  }
}

// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import dev.maskformer.MaskFormer;
import java.nio.file.Path;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** A model file and how to run it. */
final class ModelOptions {
  @Option(names = "--model", required = true, description = "TorchScript export or, with --allow-native-code, AOTInductor package (models/export.py)")
  Path model;

  @Mixin RunOptions run;

  MaskFormer load() {
    return MaskFormer.load(model, run.loadOptions());
  }
}

// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import dev.maskformer.MaskFormerRuntime;
import dev.maskformer.MaskFormerRuntime.RuntimeInfo;
import dev.maskformer.MaskFormer;
import picocli.CommandLine.IVersionProvider;

final class VersionProvider implements IVersionProvider {
  @Override
  public String[] getVersion() {
    RuntimeInfo r = MaskFormerRuntime.info();
    return new String[] {
      "maskformer-java " + r.shimVersion() + " (ABI " + r.abiVersion() + ")",
      "LibTorch " + r.libtorchVersion() + (r.cudaCompiled() ? " with CUDA" : " (CPU)"),
      "Java " + Runtime.version()
    };
  }
}

// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import dev.maskformer.ClassInfo;
import dev.maskformer.Device;
import dev.maskformer.LoadOptions;
import dev.maskformer.MaskFormer;
import dev.maskformer.ModelInfo;
import dev.maskformer.RuntimeInfo;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(header = "Versions, devices and a model's metadata.", name = "info", description = "Versions of Java, LibTorch and the shim, devices, and a model's metadata.")
final class InfoCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--model", description = "also describe this model")
  Path model;

  @Option(names = "--classes", description = "list every class with its colour")
  boolean classes;

  @Option(names = "--json", description = "print the model's metadata JSON as stored in the export")
  boolean json;

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    if (json && model != null) {
      try (MaskFormer m = MaskFormer.load(model, LoadOptions.DEFAULTS.withDevice(Device.CPU))) {
        out.println(m.info().metadataJson());
      }
      return 0;
    }
    RuntimeInfo r = MaskFormer.runtime();
    out.printf("Java            %s (%s)%n", Runtime.version(), System.getProperty("java.vm.name"));
    out.printf("maskformer shim %s, C ABI %d%n", r.shimVersion(), r.abiVersion());
    out.printf("LibTorch        %s (%s)%n", r.libtorchVersion(), r.cudaCompiled() ? "CUDA" : "CPU only");
    out.printf("CUDA devices    %d%n", r.cudaDevices());
    out.printf("CPU threads     %d (LibTorch intra-op), %d cores%n", r.intraOpThreads(),
        Runtime.getRuntime().availableProcessors());
    if (model == null) {
      return 0;
    }
    try (MaskFormer m = MaskFormer.load(model, LoadOptions.DEFAULTS.withDevice(Device.CPU))) {
      ModelInfo i = m.info();
      out.printf("model           %s%n", i.path());
      out.printf("variant         %s%n", i.variant().isEmpty() ? "(not recorded)" : i.variant());
      out.printf("classes         %d%n", i.numClasses());
      out.printf("queries         %d%n", i.numQueries());
      out.printf("resize          %s%n", i.resizeLong() == 0 ? "none"
          : "keep ratio, long side <= " + i.resizeLong() + ", short side <= " + i.resizeShort());
      out.printf("normalisation   RGB, mean %s, std %s (0..255 values)%n", i.mean(), i.std());
      out.printf("metadata format %d%n", i.formatVersion());
      String sha = Json.stringField(i.metadataJson(), "source_checkpoint_sha256");
      String source = Json.stringField(i.metadataJson(), "source_checkpoint");
      out.printf("source          %s%s%n", source == null ? "(random or trained here)" : source,
          sha == null ? "" : " sha256 " + sha);
      if (classes) {
        for (ClassInfo c : i.classes()) {
          out.printf("  %3d  #%06x  %s%n", c.label(), c.rgb(), c.name());
        }
      }
    }
    return 0;
  }
}

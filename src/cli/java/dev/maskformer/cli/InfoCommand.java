// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import dev.maskformer.MaskFormerRuntime;
import dev.maskformer.MaskFormerRuntime.RuntimeInfo;
import dev.maskformer.ModelInfo.ClassInfo;
import dev.maskformer.MaskFormer;
import dev.maskformer.ModelInfo;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

@Command(header = "Versions, devices and a model's metadata.", name = "info", description = "Versions of Java, LibTorch and the shim, devices, and a model's metadata.")
final class InfoCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--model", description = "also describe this model (loaded with the options below)")
  Path model;

  @Mixin RunOptions run;

  @Option(names = "--classes", description = "list every class with its colour (needs --model)")
  boolean classes;

  @Option(names = "--json", description = "print the model's metadata JSON as stored in the export (needs --model)")
  boolean json;

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    if ((json || classes) && model == null) {
      throw new ParameterException(spec.commandLine(), (json ? "--json" : "--classes") + " needs --model FILE");
    }
    if (json) {
      try (MaskFormer m = MaskFormer.load(model, run.loadOptions())) {
        out.println(m.info().metadataJson());
      }
      return 0;
    }
    // a model loads first, so that the thread count shown is the one it runs with
    MaskFormer loaded = model == null ? null : MaskFormer.load(model, run.loadOptions());
    try {
      printRuntime(out);
      if (loaded != null) {
        printModel(out, loaded);
      }
    } finally {
      if (loaded != null) {
        loaded.close();
      }
    }
    return 0;
  }

  private static void printRuntime(PrintWriter out) {
    RuntimeInfo r = MaskFormerRuntime.info();
    out.printf("Java            %s (%s)%n", Runtime.version(), System.getProperty("java.vm.name"));
    out.printf("maskformer shim %s, C ABI %d%n", r.shimVersion(), r.abiVersion());
    out.printf("LibTorch        %s (%s), loaded %s from %s%n", r.libtorchVersion(),
        r.cudaCompiled() ? "CUDA" : "CPU only", r.libtorchLoaded().isEmpty() ? "(version not reported)"
            : r.libtorchLoaded(), r.libtorchFile().isEmpty() ? "(unknown)" : r.libtorchFile());
    out.printf("loaded from     %s%n", r.loadedFrom());
    out.printf("CUDA devices    %d%n", r.cudaDevices());
    out.printf("CPU             %d cores; %s; bf16 %s%n", Runtime.getRuntime().availableProcessors(),
        r.cpuFeatures().isEmpty() ? "no AVX2/AVX-512" : r.cpuFeatures().stream().map(Enum::name)
            .map(n -> n.replace('_', '-')).collect(Collectors.joining(", ")),
        r.cpuNativeBf16() ? "native (--precision bf16 runs on the CPU)"
            : "not native (--precision bf16 is refused on the CPU)");
    out.printf("CPU threads     %d (LibTorch intra-op; default %d, at most %d), OpenMP %s%n",
        r.intraOpThreads(), r.defaultThreads(), r.maxThreads(), r.openMp());
  }

  private void printModel(PrintWriter out, MaskFormer m) {
    m.awaitCpuRewrites();  // their outcome, not "in the background"
    ModelInfo i = m.info();
    out.printf("device          %s, %s%n", i.device(), i.precision());
    out.printf("model           %s%n", i.path());
    out.printf("variant         %s%n", i.variant().isEmpty() ? "(not recorded)" : i.variant());
    out.printf("classes         %d%n", i.numClasses());
    out.printf("queries         %d%n", i.numQueries());
    out.printf("resize          %s%n", i.resizeLong() == 0 ? "none"
        : "keep ratio, long side <= " + i.resizeLong() + ", short side <= " + i.resizeShort());
    out.printf("normalisation   RGB, mean %s, std %s (0..255 values)%n", i.mean(), i.std());
    out.printf("metadata format %d%n", i.formatVersion());
    out.printf("file format     %s%n", m.format() == dev.maskformer.ModelInfo.ModelFormat.AOTI
        ? "AOTInductor package (compiled native code)" : "TorchScript");
    out.printf("CPU rewrites    %s%n", i.cpuRewrites());
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
}

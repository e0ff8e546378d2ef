// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import dev.maskformer.ModelInfo.ClassInfo;
import dev.maskformer.images.Images;
import dev.maskformer.MaskFormer;
import dev.maskformer.Segmentation;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(header = "Segments the bundled scenes with the bundled demo model.", name = "demo", description = {
    "Segments the bundled sample scenes with the bundled demo model (models/demo/) and writes "
        + "<sample>.overlay.png, legend.png (classes present) and demo.png (all samples, image | result)."})
final class DemoCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--out", defaultValue = "demo-output", description = "output folder (default: ${DEFAULT-VALUE})")
  Path out;

  @Mixin RunOptions run;

  @Override
  public Integer call() throws IOException {
    Path home = DemoFiles.locate();
    Path modelFile = home.resolve("models/demo/demo.pt");
    List<Path> samples = SegmentCommand.expand(List.of(home.resolve("models/demo/samples")));
    Files.createDirectories(out);
    PrintWriter o = spec.commandLine().getOut();
    long t0 = System.nanoTime();
    try (MaskFormer model = MaskFormer.load(modelFile, run.loadOptions())) {
      o.printf(Locale.ROOT, "loaded %s (%s, %d classes) on %s in %.0f ms%n", modelFile,
          model.info().variant(), model.numClasses(), model.info().device(),
          (System.nanoTime() - t0) / 1e6);
      long[] present = new long[model.numClasses()];
      List<BufferedImage> rows = new ArrayList<>();
      for (Path file : samples) {
        BufferedImage image = Images.readImage(file);
        long t1 = System.nanoTime();
        try (Arena arena = Arena.ofConfined(); Segmentation s = model.segment(Images.toFrame(image, arena))) {
          double ms = (System.nanoTime() - t1) / 1e6;
          long[] h = s.histogram();
          List<String> names = new ArrayList<>();
          for (int c = 0; c < h.length; c++) {
            present[c] += h[c];
            if (h[c] * 100 >= (long) s.width() * s.height()) {
              names.add(model.info().classes().get(c).shortName());
            }
          }
          BufferedImage overlay = Images.overlay(image, s, 0.55);
          String stem = SegmentCommand.stem(file);
          Images.writePng(overlay, out.resolve(stem + ".overlay.png"));
          rows.add(sideBySide(image, overlay));
          o.printf(Locale.ROOT, "%-28s %4dx%-4d %7.1f ms  %s%n", file.getFileName(), s.width(),
              s.height(), ms, String.join(", ", names));
        }
      }
      List<ClassInfo> shown = new ArrayList<>();
      for (int c = 0; c < present.length; c++) {
        if (present[c] > 0) {
          shown.add(model.info().classes().get(c));
        }
      }
      Images.writePng(Images.legend(shown), out.resolve("legend.png"));
      Images.writePng(stack(rows), out.resolve("demo.png"));
      o.printf("wrote %d overlays, legend.png and demo.png to %s%n", samples.size(), out.toAbsolutePath());
    }
    return 0;
  }

  private static BufferedImage sideBySide(BufferedImage a, BufferedImage b) {
    BufferedImage out = new BufferedImage(a.getWidth() + b.getWidth() + 4,
        Math.max(a.getHeight(), b.getHeight()), BufferedImage.TYPE_INT_RGB);
    Graphics2D g = out.createGraphics();
    try {
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, out.getWidth(), out.getHeight());
      g.drawImage(a, 0, 0, null);
      g.drawImage(b, a.getWidth() + 4, 0, null);
    } finally {
      g.dispose();
    }
    return out;
  }

  private static BufferedImage stack(List<BufferedImage> rows) {
    int w = rows.stream().mapToInt(BufferedImage::getWidth).max().orElse(1);
    int h = rows.stream().mapToInt(r -> r.getHeight() + 4).sum();
    BufferedImage out = new BufferedImage(w, Math.max(h, 1), BufferedImage.TYPE_INT_RGB);
    Graphics2D g = out.createGraphics();
    try {
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, w, h);
      int y = 0;
      for (BufferedImage r : rows) {
        g.drawImage(r, 0, y, null);
        y += r.getHeight() + 4;
      }
    } finally {
      g.dispose();
    }
    return out;
  }
}

// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import dev.maskformer.Images;
import dev.maskformer.MaskFormer;
import dev.maskformer.SegmentOptions;
import dev.maskformer.Segmentation;
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
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(header = "Writes label maps, overlays and optionally scores for images.", name = "segment", description = {
    "Segments images; for each INPUT writes DIR/<stem>.labels.png (grey, pixel = label; 16-bit",
    "if the model has more than 255 classes), DIR/<stem>.overlay.png and, with --scores,",
    "DIR/<stem>.scores.npy (float32, K x H x W)."})
final class SegmentCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin ModelOptions modelOptions;

  @Option(names = "--out", defaultValue = "segment-output", description = "output folder (default: ${DEFAULT-VALUE})")
  Path out;

  @Option(names = "--scores", description = "also write per-class scores as .npy")
  boolean scores;

  @Option(names = "--alpha", defaultValue = "0.5", description = "overlay opacity (default: ${DEFAULT-VALUE})")
  double alpha;

  @Parameters(arity = "1..*", paramLabel = "INPUT", description = "image files or folders of images")
  List<Path> inputs;

  @Override
  public Integer call() throws IOException {
    PrintWriter o = spec.commandLine().getOut();
    List<Path> files = expand(inputs);
    Files.createDirectories(out);
    SegmentOptions options = SegmentOptions.DEFAULTS.withScores(scores);
    try (MaskFormer model = modelOptions.load()) {
      for (Path file : files) {
        String stem = stem(file);
        BufferedImage image = Images.readImage(file);
        long t0 = System.nanoTime();
        try (Arena arena = Arena.ofConfined();
            Segmentation s = model.segment(Images.toFrame(image, arena), options)) {
          double ms = (System.nanoTime() - t0) / 1e6;
          Images.writePng(Images.labelImage(s), out.resolve(stem + ".labels.png"));
          Images.writePng(Images.overlay(image, s, alpha), out.resolve(stem + ".overlay.png"));
          if (scores) {
            Images.writeScoresNpy(s, out.resolve(stem + ".scores.npy"));
          }
          o.printf(Locale.ROOT, "%s: %dx%d in %.1f ms -> %s%n", file, s.width(), s.height(), ms,
              out.resolve(stem + ".*"));
        }
      }
    }
    return 0;
  }

  static List<Path> expand(List<Path> inputs) throws IOException {
    List<Path> files = new ArrayList<>();
    for (Path p : inputs) {
      if (Files.isDirectory(p)) {
        try (Stream<Path> s = Files.list(p)) {
          s.filter(SegmentCommand::isImage).sorted().forEach(files::add);
        }
      } else if (Files.isRegularFile(p)) {
        files.add(p);
      } else {
        throw new IOException("no such file or folder: " + p);
      }
    }
    if (files.isEmpty()) {
      throw new IOException("no images found in " + inputs);
    }
    return files;
  }

  static boolean isImage(Path p) {
    String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
    return n.endsWith(".jpg") || n.endsWith(".jpeg") || n.endsWith(".png") || n.endsWith(".bmp");
  }

  static String stem(Path p) {
    String n = p.getFileName().toString();
    int dot = n.lastIndexOf('.');
    return dot > 0 ? n.substring(0, dot) : n;
  }
}

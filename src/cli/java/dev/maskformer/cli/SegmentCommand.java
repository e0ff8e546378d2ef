// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import dev.maskformer.Output.ConfidenceType;
import dev.maskformer.images.Images;
import dev.maskformer.MaskFormer;
import dev.maskformer.MaskFormerException;
import dev.maskformer.SegmentOptions;
import dev.maskformer.Segmentation;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(header = "Writes label maps, overlays and optionally scores for images.", name = "segment", description = {
    "Segments images; for each INPUT writes DIR/<stem>.labels.png (grey, pixel = label; 16-bit "
        + "if the model has more than 256 classes), DIR/<stem>.overlay.png and, with --scores, "
        + "DIR/<stem>.scores.npy (float32, K x H x W). With --segments also DIR/<stem>.segments.png "
        + "(16-bit grey, pixel = segment id, 0 = no segment) and DIR/<stem>.segments.json (id, class, "
        + "name, score, area, bbox [x, y, width, height], query per segment); with --confidence "
        + "DIR/<stem>.confidence.png (8-bit, 255 x min(score, 1)) or .confidence.npy (float32, H x W)."})
final class SegmentCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin ModelOptions modelOptions;

  @Option(names = "--out", defaultValue = "segment-output", description = "output folder (default: ${DEFAULT-VALUE})")
  Path out;

  @Option(names = "--scores", description = "also write per-class scores as .npy")
  boolean scores;

  @Option(names = "--segments", description = "also write segment ids (.segments.png) and segments (.segments.json)")
  boolean segments;

  @Option(names = "--outline", description = "outline segments in the overlay (needs --segments)")
  boolean outline;

  /** Formats of the confidence file. */
  enum ConfidenceFormat { png, npy }

  @Option(names = "--confidence", paramLabel = "FORMAT",
      description = "also write the winning class's score per pixel: png (8-bit) or npy (float32)")
  ConfidenceFormat confidence;

  @Mixin InferenceOptions inference;

  double alpha;

  @Option(names = "--alpha", defaultValue = "0.5", paramLabel = "A", description = "overlay opacity, 0..1 (default: ${DEFAULT-VALUE})")
  void alpha(double a) {
    alpha = Alpha.check(spec, a);
  }

  long maxPixels = Images.DEFAULT_MAX_PIXELS;

  @Option(names = "--max-pixels", paramLabel = "N", description = {
      "refuse images whose header gives more than N pixels (width x height) before decoding "
          + "them (a guard against decompression bombs), 1..1073741824 (32768^2); default: 67108864 "
          + "(2^26: 8192x8192, 32768x2048 or a 48-megapixel photo)"})
  void maxPixels(long n) {
    if (n < 1 || n > Images.MAX_PIXELS_LIMIT) {
      throw new ParameterException(spec.commandLine(),
          "--max-pixels must be 1.." + Images.MAX_PIXELS_LIMIT + ", got " + n);
    }
    maxPixels = n;
  }

  @Parameters(arity = "1..*", paramLabel = "INPUT", description = "image files or folders of images")
  List<Path> inputs;

  @Override
  public Integer call() throws IOException {
    PrintWriter o = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    List<Path> files = expand(inputs);
    Map<Path, String> names = outputNames(files);
    if (outline && !segments) {
      throw new ParameterException(spec.commandLine(), "--outline needs --segments");
    }
    Files.createDirectories(out);
    SegmentOptions options = inference.apply(SegmentOptions.DEFAULTS.withScores(scores), segments);
    if (confidence != null) {
      options = options.withConfidence(confidence == ConfidenceFormat.png ? ConfidenceType.U8 : ConfidenceType.F32);
    }
    List<String> failed = new ArrayList<>();
    try (MaskFormer model = modelOptions.load()) {
      for (Path file : files) {
        String stem = names.get(file);
        try {
          BufferedImage image = Images.readImage(file, maxPixels);
          long t0 = System.nanoTime();
          try (Arena arena = Arena.ofConfined();
              Segmentation s = model.segment(Images.toFrame(image, arena), options)) {
            double ms = (System.nanoTime() - t0) / 1e6;
            Images.writePng(Images.labelImage(s), out.resolve(stem + ".labels.png"));
            BufferedImage overlay = Images.overlay(image, s, alpha);
            if (segments) {
              int[] ids = s.regionIdArray();
              Images.writePng(SegmentFiles.idImage(ids, s.width(), s.height()), out.resolve(stem + ".segments.png"));
              Files.writeString(out.resolve(stem + ".segments.json"), SegmentFiles.document(
                  file.toString(), s.width(), s.height(), options.regions(), s.regions(), s.classes()));
              if (outline) {
                SegmentFiles.outline(overlay, ids, s.width(), s.height(), 0xFFFFFF);
              }
            }
            Images.writePng(overlay, out.resolve(stem + ".overlay.png"));
            if (scores) {
              Images.writeScoresNpy(s, out.resolve(stem + ".scores.npy"));
            }
            if (confidence == ConfidenceFormat.png) {
              Images.writePng(confidenceImage(s), out.resolve(stem + ".confidence.png"));
            } else if (confidence == ConfidenceFormat.npy) {
              Images.writeConfidenceNpy(s, out.resolve(stem + ".confidence.npy"));
            }
            o.printf(Locale.ROOT, "%s: %dx%d in %.1f ms -> %s%n", file, s.width(), s.height(), ms,
                out.resolve(stem + ".*"));
          }
        } catch (IOException | UncheckedIOException | IllegalArgumentException | MaskFormerException e) {
          // one bad image does not stop the others; the exit status says that some failed
          String m = String.valueOf(e.getMessage());
          err.println("error: " + (m.contains(file.toString()) ? m : file + ": " + m));
          failed.add(file.toString());
        }
      }
    }
    if (!failed.isEmpty()) {
      err.printf(Locale.ROOT, "%d of %d images failed: %s%n", failed.size(), files.size(), String.join(", ", failed));
      return 1;
    }
    return 0;
  }

  static BufferedImage confidenceImage(Segmentation s) {
    BufferedImage img = new BufferedImage(s.width(), s.height(), BufferedImage.TYPE_BYTE_GRAY);
    byte[] pixels = ((java.awt.image.DataBufferByte) img.getRaster().getDataBuffer()).getData();
    MemorySegment.copy(s.confidence().orElseThrow(), ValueLayout.JAVA_BYTE, 0, pixels, 0, pixels.length);
    return img;
  }

  /**
   * The output name of each input: its file stem, or, where two inputs share a stem (a.jpg and
   * a.png, or x/a.jpg and y/a.jpg), the stem with the parent folder's name and the extension, so
   * that no output overwrites another.
   */
  static Map<Path, String> outputNames(List<Path> files) {
    Map<String, Integer> count = new HashMap<>();
    for (Path f : files) {
      count.merge(stem(f), 1, Integer::sum);
    }
    Map<Path, String> names = new LinkedHashMap<>();
    Set<String> used = new HashSet<>();
    for (Path f : files) {
      String name = stem(f);
      if (count.get(name) > 1) {
        Path parent = f.toAbsolutePath().getParent();
        String folder = parent == null || parent.getFileName() == null ? "" : parent.getFileName() + "_";
        name = folder + f.getFileName().toString().replace('.', '_');
      }
      String unique = name;
      for (int i = 2; !used.add(unique); i++) {
        unique = name + "-" + i;
      }
      names.put(f, unique);
    }
    return names;
  }

  static List<Path> expand(List<Path> inputs) throws IOException {
    List<Path> files = new ArrayList<>();
    for (Path p : inputs) {
      if (Files.isDirectory(p)) {
        try (Stream<Path> s = Files.list(p)) {
          s.filter(SegmentCommand::isImage).sorted().forEach(files::add);
        }
      } else if (Files.exists(p)) {
        files.add(p); // a FIFO or device is refused, unread, by Images.readImage as that file's error
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

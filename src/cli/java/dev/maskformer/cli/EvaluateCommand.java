// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import dev.maskformer.ModelInfo.ClassInfo;
import dev.maskformer.Output.LabelType;
import dev.maskformer.images.Images;
import dev.maskformer.MaskFormer;
import dev.maskformer.Precision;
import dev.maskformer.SegmentOptions;
import dev.maskformer.Segmentation;
import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(header = "mIoU, pixel accuracy and per-class IoU over an ADE20k-layout folder.", name = "evaluate", description = {
    "mIoU, pixel accuracy and per-class IoU over an ADE20k-layout folder "
        + "(images/<split>/*.jpg, annotations/<split>/*.png with 0 = ignore, 1..K = class id), "
        + "computed as sssegmentation does. Prints JSON on stdout."})
final class EvaluateCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin ModelOptions modelOptions;

  @Option(names = "--data", required = true, description = "dataset root (ADE20k layout)")
  Path data;

  @Option(names = "--split", defaultValue = "validation", description = "split folder (default: ${DEFAULT-VALUE})")
  String split;

  @Option(names = "--limit", description = "first N images only")
  Integer limit;

  @Option(names = "--agreement-with", paramLabel = "PRECISION", description = {
      "also run the model at this precision (usually fp32) and report the share of pixels whose "
          + "label is the same in both runs, overall and for the worst image, and that run's mIoU"})
  Precision reference;

  @Override
  public Integer call() throws IOException {
    List<Path[]> pairs = pairs(data, split, limit);
    long t0 = System.nanoTime();
    boolean terminal = stderrIsTerminal();
    PrintWriter err = spec.commandLine().getErr();
    try (MaskFormer model = modelOptions.load();
        MaskFormer other = reference == null ? null
            : MaskFormer.load(modelOptions.model, modelOptions.run.loadOptions().withPrecision(reference))) {
      model.awaitCpuRewrites();  // every image on the network the model keeps
      if (other != null) {
        other.awaitCpuRewrites();
      }
      MeanIou metric = new MeanIou(model.numClasses());
      MeanIou referenceMetric = new MeanIou(model.numClasses());
      Agreement agreement = new Agreement();
      SegmentOptions options = SegmentOptions.DEFAULTS.withLabelType(LabelType.I32);
      for (int i = 0; i < pairs.size(); i++) {
        Path[] p = pairs.get(i);
        int[] truth = readAnnotation(p[1]);
        try (Arena arena = Arena.ofConfined()) {
          var frame = Images.read(p[0], arena);
          int[] labels;
          try (Segmentation s = model.segment(frame, options)) {
            if (truth.length != s.width() * s.height()) {
              throw new IOException("annotation " + p[1] + " does not have the size of " + p[0]);
            }
            labels = s.toIntArray();
          }
          metric.add(labels, truth);
          if (other != null) {
            try (Segmentation s = other.segment(frame, options)) {
              int[] referenceLabels = s.toIntArray();
              referenceMetric.add(referenceLabels, truth);
              agreement.add(p[0].getFileName().toString(), labels, referenceLabels);
            }
          }
        }
        if (terminal) {
          progress(err, i + 1, pairs.size(), t0);
        }
      }
      if (terminal) {
        err.println();
      }
      double seconds = (System.nanoTime() - t0) / 1e9;
      Map<String, String> extra = new LinkedHashMap<>();
      extra.put("precision", Json.quote(model.info().precision().toString().toLowerCase(Locale.ROOT)));
      if (other != null) {
        extra.put("agreement", agreement.toJson(other.info().precision(), referenceMetric));
      }
      spec.commandLine().getOut().println(metric.toJson(model.info().classes(), seconds,
          model.info().path(), data.toString(), extra));
    }
    return 0;
  }

  static List<Path[]> pairs(Path root, String split, Integer limit) throws IOException {
    Path images = root.resolve("images").resolve(split);
    Path annotations = root.resolve("annotations").resolve(split);
    if (!Files.isDirectory(images)) {
      throw new IOException(images + " does not exist (expected the ADE20k layout: "
          + "images/<split>/*.jpg and annotations/<split>/*.png)");
    }
    List<Path[]> pairs = new ArrayList<>();
    try (Stream<Path> s = Files.list(images)) {
      for (Path img : s.filter(SegmentCommand::isImage).sorted().toList()) {
        Path ann = annotations.resolve(SegmentCommand.stem(img) + ".png");
        if (!Files.isRegularFile(ann)) {
          throw new IOException("no annotation " + ann + " for " + img);
        }
        pairs.add(new Path[] {img, ann});
        if (limit != null && pairs.size() >= limit) {
          break;
        }
      }
    }
    if (pairs.isEmpty()) {
      throw new IOException("no images in " + images);
    }
    return pairs;
  }

  /** Class ids of a grey annotation PNG, row-major. */
  static int[] readAnnotation(Path file) throws IOException {
    BufferedImage image = Images.readImage(file);
    Raster r = image.getRaster();
    if (r.getNumBands() != 1) {
      throw new IOException(file + " is not a single-channel annotation (" + r.getNumBands() + " bands)");
    }
    return r.getSamples(0, 0, image.getWidth(), image.getHeight(), 0, (int[]) null);
  }

  /** Whether standard error (where the bar goes) is a terminal, even with stdout redirected. */
  static boolean stderrIsTerminal() {
    try {
      String target = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString();
      return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
    } catch (IOException | UnsupportedOperationException | SecurityException e) {
      return System.console() != null; // not Linux: the JDK's view (stdin and stdout)
    }
  }

  private static void progress(PrintWriter err, int done, int total, long t0) {
    int width = 30;
    int filled = (int) ((long) width * done / total);
    double elapsed = (System.nanoTime() - t0) / 1e9;
    double eta = done == 0 ? 0 : elapsed / done * (total - done);
    err.printf(Locale.ROOT, "\r[%s%s] %d/%d  %.1f s elapsed, %.0f s left ", "#".repeat(filled),
        " ".repeat(width - filled), done, total, elapsed, eta);
    err.flush();
  }

  /** Dataset-wide intersection and union per class; IoU of classes never seen is left out. */
  static final class MeanIou {
    final long[] intersect;
    final long[] predicted;
    final long[] labelled;
    int images;

    MeanIou(int numClasses) {
      intersect = new long[numClasses];
      predicted = new long[numClasses];
      labelled = new long[numClasses];
    }

    /** {@code ids}: annotation class ids, 1..K valid, anything else ignored. */
    void add(int[] labels, int[] ids) {
      int k = intersect.length;
      for (int i = 0; i < labels.length; i++) {
        int truth = ids[i] - 1;
        if (truth < 0 || truth >= k) {
          continue;
        }
        int p = labels[i];
        predicted[p]++;
        labelled[truth]++;
        if (p == truth) {
          intersect[p]++;
        }
      }
      images++;
    }

    double[] iou() {
      double[] iou = new double[intersect.length];
      for (int c = 0; c < iou.length; c++) {
        long union = predicted[c] + labelled[c] - intersect[c];
        iou[c] = union == 0 ? Double.NaN : (double) intersect[c] / union;
      }
      return iou;
    }

    double meanIou() {
      double sum = 0;
      int n = 0;
      for (double v : iou()) {
        if (!Double.isNaN(v)) {
          sum += v;
          n++;
        }
      }
      return n == 0 ? Double.NaN : sum / n;
    }

    double pixelAccuracy() {
      long i = 0;
      long l = 0;
      for (int c = 0; c < intersect.length; c++) {
        i += intersect[c];
        l += labelled[c];
      }
      return l == 0 ? 0 : (double) i / l;
    }

    String toJson(List<ClassInfo> classes, double seconds, String model, String dataset,
        Map<String, String> extra) {
      double[] iou = iou();
      Map<String, String> perClass = new LinkedHashMap<>();
      int evaluated = 0;
      for (int c = 0; c < iou.length; c++) {
        if (!Double.isNaN(iou[c])) {
          perClass.put(classes.get(c).name(), Json.number(iou[c]));
          evaluated++;
        }
      }
      Map<String, String> json = new LinkedHashMap<>();
      json.put("images", Integer.toString(images));
      json.put("mIoU", Json.number(meanIou()));
      json.put("pixel_accuracy", Json.number(pixelAccuracy()));
      json.put("classes_evaluated", Integer.toString(evaluated));
      json.put("per_class_iou", Json.object(perClass, " "));
      json.put("seconds", Json.number(Math.round(seconds * 100) / 100.0));
      json.put("model", Json.quote(model));
      json.put("data", Json.quote(dataset));
      json.putAll(extra);
      return Json.object(json, "");
    }
  }

  /** Pixels labelled the same by two runs of one model (every pixel, annotated or not). */
  static final class Agreement {
    long pixels;
    long same;
    String worstImage;
    double worstShare = Double.NaN;

    void add(String image, int[] labels, int[] reference) {
      if (labels.length != reference.length) {
        throw new IllegalStateException("label maps of different sizes for " + image);
      }
      long n = 0;
      for (int i = 0; i < labels.length; i++) {
        n += labels[i] == reference[i] ? 1 : 0;
      }
      pixels += labels.length;
      same += n;
      double share = labels.length == 0 ? 1 : (double) n / labels.length;
      if (worstImage == null || share < worstShare) {
        worstImage = image;
        worstShare = share;
      }
    }

    String toJson(Precision with, MeanIou reference) {
      Map<String, String> json = new LinkedHashMap<>();
      json.put("with", Json.quote(with.toString().toLowerCase(Locale.ROOT)));
      json.put("pixels", Long.toString(pixels));
      json.put("agreeing", Long.toString(same));
      json.put("share", Json.number(pixels == 0 ? Double.NaN : (double) same / pixels));
      json.put("worst_image", worstImage == null ? "null" : Json.quote(worstImage));
      json.put("worst_image_share", Json.number(worstShare));
      json.put("reference_mIoU", Json.number(reference.meanIou()));
      json.put("reference_pixel_accuracy", Json.number(reference.pixelAccuracy()));
      return Json.object(json, " ");
    }
  }
}

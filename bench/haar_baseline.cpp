// The bare OpenCV work behind FaceOverlayFilter's face detection, for BENCHMARKS.md: the Haar
// cascade on the fake camera's frame (messi5.jpg cropped to the upper body, as tests/e2e uses
// it), downscaled to 320x240 grey, with the filter's parameters (scale step 1.2, 3 neighbours,
// faces from 1/20 to 1/2 of the frame) on one thread. Nothing else: no decoding, no drawing.
//
//   bash bench/haar_baseline.sh            (builds it with g++ and runs it)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

int main(int argc, char **argv) {
  const char *image_path = argc > 1 && argv[1][0] ? argv[1] : "/usr/share/doc/opencv-doc/examples/data/messi5.jpg";
  const int runs = argc > 2 ? std::atoi(argv[2]) : 200;
  const char *cascade_path = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";

  cv::setNumThreads(1);
  cv::Mat photo = cv::imread(image_path, cv::IMREAD_GRAYSCALE);
  cv::CascadeClassifier cascade;
  if (photo.empty() || !cascade.load(cascade_path)) {
    std::fprintf(stderr, "haar_baseline: cannot read %s or %s\n", image_path, cascade_path);
    return 1;
  }
  // The e2e camera: x 110..(width-164), y 40..(height-97), scaled to 640x480, then the filter's
  // 320-wide detection frame.
  cv::Rect upper_body(110, 40, photo.cols - 110 - 164, photo.rows - 40 - 97);
  cv::Mat camera, frame;
  cv::resize(photo(upper_body), camera, cv::Size(640, 480), 0, 0, cv::INTER_LINEAR);
  cv::resize(camera, frame, cv::Size(320, 240), 0, 0, cv::INTER_AREA);

  std::vector<cv::Rect> faces;
  const cv::Size smallest(frame.cols / 20, frame.rows / 20), largest(frame.cols / 2, frame.rows / 2);
  cascade.detectMultiScale(frame, faces, 1.2, 3, 0, smallest, largest);  // warm-up
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < runs; i++) {
    cascade.detectMultiScale(frame, faces, 1.2, 3, 0, smallest, largest);
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / runs;
  std::printf("haar_baseline: %zu face(s), %.2f ms per detection (320x240, %d runs, 1 thread)\n",
              faces.size(), ms, runs);
  std::printf("haar_baseline: at 15 detections/s that is %.1f%% of one core\n", ms * 15 / 10);
  return 0;
}

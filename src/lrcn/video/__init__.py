"""Video I/O, the only package that imports the decoder (PyAV).

- :mod:`.container`: opening a file or a live source, frames to RGB arrays (turned as shown);
- :mod:`.reading`: probing, frame-exact reads by index (:func:`read_frames`), sampling by
  presentation time (:func:`iter_frames_at_fps`), live sources, frames for re-encoding;
- :mod:`.bitstream`: frame types read from packets (MPEG-4 part 2 VOPs, H.264 slice headers), so
  frames nothing needs never reach the decoder;
- :mod:`.writing`: encoding RGB arrays or decoded frames.
"""

from .container import (VIDEO_EXTENSIONS, SampledFrame, VideoInfo, is_video_file, require_file,  # noqa: F401
                        resize_rgb)
from .reading import (STREAMABLE, ShortVideoError, count_frames, count_packets, decode_all_rgb,  # noqa: F401
                      is_live_source, iter_display_frames, iter_frames_at_fps, iter_live_frames, paces_itself, probe,
                      read_frames)
from .writing import TimedWriter, rgb_to_yuv420_planes, write_video, write_video_stream  # noqa: F401

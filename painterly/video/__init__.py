"""``painterly video``: a clip stylised frame by frame with short-term temporal consistency
(Ruder, Dosovitskiy and Brox 2016, "Artistic style transfer for videos").

- :mod:`~painterly.video.io`: decoding and encoding with PyAV (H.264 MP4, the audio copied);
- :mod:`~painterly.video.flow`: optical flow (OpenCV DIS or Farneback), warping, the reliability mask;
- :mod:`~painterly.video.temporal`: the temporal loss added to each frame's objective;
- :mod:`~painterly.video.flicker`: the flicker measure;
- :mod:`~painterly.video.command`: the command line, resumable frame by frame.

PyAV and OpenCV are the optional extra ``painterly[video]``.
"""

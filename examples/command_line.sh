#!/usr/bin/env bash
# The main tasks from the command line, on the beam recording shipped with vibmag.
#   bash examples/command_line.sh [OUTPUT_FOLDER]
set -euo pipefail
out=${1:-cli-output}
mkdir -p "$out"
beams=$(python -c 'from vibmag import sample_data; print(sample_data.path("showcase_beams"))')

# What the recording holds: frames, size, capture rate (from the Photron header), bit depth.
vibmag info "$beams"

# Displacement, spectrum with peaks and waveform: spectrum.png, peaks.csv, analysis.h5.
# A region is box:y0,x0,y1,x1 (half-open) or polygon:y,x;y,x;y,x.
vibmag analyze "$beams" -o "$out/analysis" --region box:6,20,37,630 --peaks 3 --overwrite

# Magnify the band around the 18 Hz peak 20 times: a side-by-side video ...
vibmag magnify "$beams" -o "$out/magnified.mp4" --alpha 20 --band 13.5Hz:22.5Hz --fps 15 --overwrite
# ... or the magnified recording as HDF5 (open it with vibmag.open_recording).
vibmag magnify "$beams" -o "$out/magnified.h5" --alpha 20 --band 810rpm:1350rpm --method lagrangian --overwrite

# A recording without a stored capture rate (a video's rate is its playback rate) needs --frame-rate:
#   vibmag magnify clip.mp4 -o clip-x20.mp4 --frame-rate "15 kHz" --alpha 20 --band 45Hz:55Hz
ls "$out" "$out/analysis"

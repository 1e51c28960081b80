/* One DICOM file through DCMTK, for src/io/dicom.c (internal to src/io; C
 * callable, the C++ is in dicom_dcmtk.cc). Errors go through fesf_error
 * with the file quoted. */
#ifndef FESF_IO_DICOM_DCMTK_H
#define FESF_IO_DICOM_DCMTK_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int rows, cols, frames;           /* frames: NumberOfFrames, 1 without it */
    int bits_alloc, bits_stored, pixel_rep;
    double slope, inter;              /* RescaleSlope/Intercept (1, 0 without them) */
    int has_pos;                      /* ImagePositionPatient and ImageOrientationPatient both given */
    double pos[3], orient[6];
    int has_instance;
    long instance;                    /* InstanceNumber */
    char series[72];                  /* SeriesInstanceUID ("" without one) */
} fesf_dcm_info;

/* The header of a DICOM file (Part 10, with its "DICM" preamble), checked:
 * one sample per pixel, 8, 16 or 32 bits allocated, a transfer syntax whose
 * pixels can be decoded (uncompressed, RLE, JPEG through DCMTK's codecs).
 * 0 or -1. */
int fesf_dcm_probe(const char *path, fesf_dcm_info *info);
/* Its frames (info from fesf_dcm_probe of the same file) as float after
 * the rescale slope and intercept: frames * rows * cols values into out.
 * 0 or -1. */
int fesf_dcm_read(const char *path, const fesf_dcm_info *info, float *out);

#ifdef __cplusplus
}
#endif

#endif

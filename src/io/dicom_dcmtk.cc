// One DICOM file through DCMTK (dicom_dcmtk.h): its header, then its
// frames decoded one by one with DcmPixelData::getUncompressedFrame (the
// JPEG and RLE decoders registered once), the stored bits masked and
// sign-extended, then the rescale slope and intercept.
#include "dicom_dcmtk.h"
extern "C" {
#include "fesf/error.h"
}

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/oflog/oflog.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

void stop_dcmtk()
{
    DJDecoderRegistration::cleanup();
    DcmRLEDecoderRegistration::cleanup();
}

void start_dcmtk()
{
    static bool started = false;
    if (started) return;
    started = true;
    OFLog::configure(OFLogger::OFF_LOG_LEVEL); // errors are ours to word
    DJDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
    std::atexit(stop_dcmtk); // the decoders live as long as the process; freed at its end
}

int load(DcmFileFormat &ff, const char *path, bool header_only)
{
    start_dcmtk();
    // ERM_fileOnly: a Part 10 file with its meta header; large values stay on disk for the header
    OFCondition c = ff.loadFile(path, EXS_Unknown, EGL_noChange, header_only ? 256 : DCM_MaxReadLength,
                                ERM_fileOnly);
    if (c.bad()) return fesf_error("'%s': not a readable dicom file (%s)", path, c.text());
    if (!header_only && (c = ff.loadAllDataIntoMemory()).bad())
        return fesf_error("'%s': cannot read its data (%s)", path, c.text());
    return 0;
}

int get_int(DcmDataset *ds, const DcmTagKey &tag, long *v, bool required, const char *path, const char *name)
{
    Sint32 s = 0;
    Uint16 u = 0;
    if (ds->findAndGetUint16(tag, u).good()) {
        *v = u;
        return 1;
    }
    if (ds->findAndGetSint32(tag, s).good()) {
        *v = s;
        return 1;
    }
    if (required) return fesf_error("'%s': no %s", path, name);
    return 0;
}

int get_doubles(DcmDataset *ds, const DcmTagKey &tag, double *v, int n)
{
    for (int i = 0; i < n; i++)
        if (ds->findAndGetFloat64(tag, v[i], (unsigned long)i).bad()) return 0;
    return 1;
}

} // namespace

extern "C" int fesf_dcm_probe(const char *path, fesf_dcm_info *info)
{
    DcmFileFormat ff;
    if (load(ff, path, true)) return -1;
    DcmDataset *ds = ff.getDataset();
    std::memset(info, 0, sizeof *info);
    long rows, cols, ba, bs, pr, spp = 1, frames = 1, inst = 0;
    if (get_int(ds, DCM_Rows, &rows, true, path, "rows") < 0 || get_int(ds, DCM_Columns, &cols, true, path, "columns") < 0 ||
        get_int(ds, DCM_BitsAllocated, &ba, true, path, "bits allocated") < 0)
        return -1;
    if (!ds->tagExists(DCM_PixelData)) return fesf_error("'%s': no pixel data (not an image)", path);
    if (!get_int(ds, DCM_BitsStored, &bs, false, path, "")) bs = ba;
    if (!get_int(ds, DCM_PixelRepresentation, &pr, false, path, "")) pr = 0;
    get_int(ds, DCM_SamplesPerPixel, &spp, false, path, "");
    OFString text;
    if (ds->findAndGetOFString(DCM_NumberOfFrames, text).good()) frames = std::atol(text.c_str());
    if (spp != 1)
        return fesf_error("'%s': %ld samples per pixel: colour images are not read (one sample: grey levels)", path, spp);
    if (ba != 8 && ba != 16 && ba != 32)
        return fesf_error("'%s': %ld bits allocated: only 8, 16 or 32 are read", path, ba);
    if (bs < 1 || bs > ba) return fesf_error("'%s': %ld bits stored of %ld allocated", path, bs, ba);
    if (rows < 1 || cols < 1 || frames < 1 || (int64_t)rows * cols * frames > ((int64_t)1 << 27))
        return fesf_error("'%s': %ld x %ld pixels x %ld frames out of range", path, rows, cols, frames);
    DcmXfer xfer(ds->getOriginalXfer());
    if (xfer.isEncapsulated()) {
        DcmElement *px = NULL;
        OFString model;
        Uint32 size = 0;
        if (ds->findAndGetElement(DCM_PixelData, px).bad() || px->getUncompressedFrameSize(ds, size).bad() ||
            px->getDecompressedColorModel(ds, model).bad())
            return fesf_error("'%s': compressed transfer syntax '%s' cannot be decoded", path, xfer.getXferName());
    }
    info->rows = (int)rows, info->cols = (int)cols, info->frames = (int)frames;
    info->bits_alloc = (int)ba, info->bits_stored = (int)bs, info->pixel_rep = (int)pr;
    double v = 0; // (DCMTK zeroes the value it does not find)
    info->slope = ds->findAndGetFloat64(DCM_RescaleSlope, v).good() ? v : 1.0;
    info->inter = ds->findAndGetFloat64(DCM_RescaleIntercept, v).good() ? v : 0.0;
    info->has_pos = get_doubles(ds, DCM_ImagePositionPatient, info->pos, 3) &&
                    get_doubles(ds, DCM_ImageOrientationPatient, info->orient, 6);
    if (ds->findAndGetOFString(DCM_InstanceNumber, text).good() && !text.empty()) {
        info->has_instance = 1;
        inst = std::atol(text.c_str());
    }
    info->instance = inst;
    if (ds->findAndGetOFString(DCM_SeriesInstanceUID, text).good())
        std::snprintf(info->series, sizeof info->series, "%s", text.c_str());
    return 0;
}

/* One stored value -> its integer: the stored bits, sign-extended when signed. */
static inline double stored(uint32_t raw, int bits, int is_signed)
{
    if (bits < 32) raw &= (1u << bits) - 1u;
    if (is_signed && bits < 32 && (raw >> (bits - 1)) & 1u) return (double)(int64_t)raw - (double)((int64_t)1 << bits);
    if (is_signed && bits == 32) return (double)(int32_t)raw;
    return (double)raw;
}

extern "C" int fesf_dcm_read(const char *path, const fesf_dcm_info *info, float *out)
{
    DcmFileFormat ff;
    if (load(ff, path, false)) return -1;
    DcmDataset *ds = ff.getDataset();
    DcmElement *px = NULL;
    if (ds->findAndGetElement(DCM_PixelData, px).bad()) return fesf_error("'%s': no pixel data", path);
    size_t n = (size_t)info->rows * info->cols, bytes = n * (size_t)(info->bits_alloc / 8);
    std::vector<uint8_t> buf(bytes + (bytes & 1));
    Uint32 fragment = 0;
    for (int f = 0; f < info->frames; f++) {
        OFString model;
        OFCondition c = px->getUncompressedFrame(ds, (Uint32)f, fragment, buf.data(), (Uint32)buf.size(), model, NULL);
        if (c.bad()) return fesf_error("'%s': cannot decode frame %d of its pixel data (%s)", path, f, c.text());
        float *dst = out + (size_t)f * n;
        for (size_t i = 0; i < n; i++) {
            uint32_t raw;
            if (info->bits_alloc == 8) {
                raw = buf[i];
            } else if (info->bits_alloc == 16) {
                uint16_t v;
                std::memcpy(&v, buf.data() + 2 * i, 2);
                raw = v;
            } else {
                std::memcpy(&raw, buf.data() + 4 * i, 4);
            }
            dst[i] = (float)(stored(raw, info->bits_stored, info->pixel_rep) * info->slope + info->inter);
        }
    }
    return 0;
}

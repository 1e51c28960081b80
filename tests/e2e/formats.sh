# Clinical volume formats (nifti:DIR:CSV, dicom:DIR:CSV): every file of the shared
# medical-formats set read as nibabel / pydicom read it (after rescale slope and
# intercept), the trilinear resample against torch, DICOM series sorted along the
# slice normal, `fesf prepare` of a labelled NIfTI set and of a DICOM set into
# [N, 1, D, H, W] shards with data.window and data.size (tests/py/formats_check.py),
# and the refusals of malformed inputs. The shared files are read in place from
# ../shared/datasets/medical-formats, never copied into the repository.
. tests/lib.sh
MF=$DATA/medical-formats
VD=$TOOLS/vol_dump
if [ ! -d "$MF" ] || [ ! -x "$VD" ]; then
    skip "formats" "medical-formats not in $DATA (or $VD not built)"
    echo "1..$_n"
    exit 0
fi
FC="$PY tests/py/formats_check.py"
$FC raw "$VD" "$MF" "$TMP" >"$TMP/o" 2>&1; relay "$TMP/o"
$FC resample "$VD" "$TMP" >"$TMP/o" 2>&1; relay "$TMP/o"
$FC series "$VD" "$MF/CT_small.dcm" "$TMP" >"$TMP/o" 2>&1; relay "$TMP/o"

# fesf prepare of a labelled NIfTI set (8 .nii.gz of three sizes, one volume of a 4-D file)
$FC make-nifti "$TMP/nset" >"$TMP/o" 2>&1 || { nok "make the nifti set"; sed 's/^/#   /' "$TMP/o"; }
cat >"$TMP/nifti.ini" <<INI
[data]
source = nifti:$TMP/nset:$TMP/nset/labels.csv
window = -100,200
size = 8,12,10
sites = 2
public = 0.15
[run]
out = $TMP/rn
INI
check "prepare nifti:DIR:CSV, window -100,200, size 8,12,10, 2 sites" "$FESF" prepare -q -c "$TMP/nifti.ini"
$FC shard "$TMP/rn" "$TMP/nset" -100 200 8 12 10 >"$TMP/o" 2>&1; relay "$TMP/o"
h5ls "$TMP/rn/site-001.h5/plain/train" >"$TMP/ls" 2>&1
grep -q 'images *Dataset {[0-9]*/Inf, 1, 8, 12, 10}' "$TMP/ls" && ok "h5ls: /plain/train/images is [N, 1, 8, 12, 10]" \
    || { nok "5-D shard layout"; sed 's/^/#   /' "$TMP/ls"; }

# fesf prepare of a DICOM set (10 series folders, slices written shuffled)
$FC make-dicom "$MF/CT_small.dcm" "$TMP/dset" >"$TMP/o" 2>&1 || { nok "make the dicom set"; sed 's/^/#   /' "$TMP/o"; }
D="--set data.source=dicom:$TMP/dset:$TMP/dset/labels.csv --set data.sites=2 --set data.public=0.1"
check "prepare dicom:DIR:CSV, window -500,1000, size 4,6,6" "$FESF" prepare -q $D --set data.window=-500,1000 \
    --set data.size=4,6,6 --set run.out="$TMP/rd"
$FC shard "$TMP/rd" "$TMP/dset" -500 1000 4 6 6 >"$TMP/o" 2>&1; relay "$TMP/o"

# refusals: one clear line naming the file
N="--set run.out=$TMP/x --set data.sites=1"
$FC make-bad "$MF/CT_small.dcm" "$TMP/bad" >"$TMP/o" 2>&1 || { nok "make the bad dicom files"; sed 's/^/#   /' "$TMP/o"; }
"$VD" raw dicom "$TMP/bad/rle.dcm" "$TMP/rle.f32" >/dev/null 2>"$TMP/o" && "$VD" raw dicom "$MF/CT_small.dcm" "$TMP/ct.f32" >/dev/null &&
    cmp -s "$TMP/rle.f32" "$TMP/ct.f32" && ok "an RLE-compressed CT_small.dcm decodes (DCMTK's RLE decoder) to the same voxels" \
    || { nok "RLE decoding"; sed 's/^/#   /' "$TMP/o"; }
mkdir -p "$TMP/bad/empty"
head -c 1000 "$MF/anatomical.nii" >"$TMP/bad/trunc.nii"
echo "not a dicom file" >"$TMP/bad/text.dcm"
cp "$MF/functional.nii" "$TMP/bad/f.nii"
bad() { # DESCRIPTION PATTERN KIND CSV-LINE
    printf '%s\n' "$4" >"$TMP/bad/l.csv"
    expect_fail "$1" "$2" "$FESF" prepare -q $N --set data.source="$3:$TMP/bad:$TMP/bad/l.csv"
}
bad "a truncated .nii" "trunc.nii': truncated" nifti "trunc.nii,0"
bad "a text file named .dcm" "text.dcm': not a readable dicom file" dicom "text.dcm,0"
bad "an empty folder" "empty': empty folder" dicom "empty,0"
bad "a transfer syntax DCMTK cannot decode" "j2k.dcm': compressed transfer syntax 'JPEG 2000 \(Lossless only\)' cannot be decoded" \
    dicom "j2k.dcm,0"
bad "a colour dicom" "rgb.dcm': 3 samples per pixel: colour images are not read" dicom "rgb.dcm,0"
bad "mixed slice sizes in a series" "s2.dcm': slice of 8 x 6 differs from 8 x 8 of .*s0.dcm' \(mixed sizes in one series\)" \
    dicom "mixed,0"
bad "#T past the end of a 4-D file" "f.nii#20': volume 20 out of range \(the file has 20\)" nifti "f.nii#20,0"
bad "a 5-D nifti" "five.nii': 5-D file \(dim\[5\] = 2\): only 3-D volumes and 4-D series are read" nifti "five.nii,0"
bad "a complex nifti" "cplx.nii': datatype COMPLEX64 is not a real scalar" nifti "cplx.nii,0"
bad "an rgb nifti" "rgb.nii': datatype RGB24 is not a real scalar" nifti "rgb.nii,0"
bad "a bad #T" "f.nii#x': '#x' is not a volume number" nifti "f.nii#x,0"
bad "a 4-D file without #T" "f.nii': 4-D file of 20 volumes: name one as" nifti "f.nii,0"
bad "a missing file" "line 1: cannot open 'gone.nii'" nifti "gone.nii,0"
printf 'f.nii#0,0\n%s\n' "$MF/anatomical.nii,1" >"$TMP/bad/m.csv"
expect_fail "volumes of two sizes without data.size" "anatomical.nii': volume of 25 x 41 x 33 differs from 3 x 21 x 17" \
    "$FESF" prepare -q $N --set data.source="nifti:$TMP/bad:$TMP/bad/m.csv"
expect_fail "data.window with a png source" "data.window: an intensity window is for clinical volumes" \
    "$FESF" prepare -q $N --set data.source="png:$TMP/bad:$TMP/bad/l.csv" --set data.window=0,1
expect_fail "data.size = D,H,W with the phantom" "phantom's size is one number" \
    "$FESF" prepare -q $N --set data.size=8,8,8
expect_fail "an unknown source kind" "expected phantom \| npz:PATH \| png:DIR:CSV \| nifti:DIR:CSV \| dicom:DIR:CSV" \
    "$FESF" prepare -q $N --set data.source=mha:x:y
echo "1..$_n"

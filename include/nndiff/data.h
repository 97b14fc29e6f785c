/* Data: datasets (image directories, .npy/.npz tensor files), image decoding
 * (JPEG, PNG) and the preprocessing presets that reproduce each model zoo's
 * own input pipeline.
 *
 * Preprocessing is itself a source of discrepancies between "the same" model
 * from two zoos, so every result must be reported together with
 * nnd_preprocess_describe() of the preprocessing that produced it.
 *
 * All readers treat their input as untrusted: sizes are bounds- and
 * overflow-checked, corrupt or truncated files give NND_ERR_FORMAT with a
 * message naming the file, never a crash or an exit. */
#ifndef NNDIFF_DATA_H
#define NNDIFF_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nndiff/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Images                                                                    */

/* An 8-bit image, rows top to bottom, channels interleaved (RGB or gray). */
typedef struct nnd_image {
  int64_t width, height;
  int channels;          /* 3 (RGB) or 1 (gray) */
  unsigned char *pixels; /* width * height * channels bytes, owned (malloc) */
} nnd_image;

/* Images with more pixels than this are refused unless a caller raises it. */
#define NND_IMAGE_DEFAULT_MAX_PIXELS ((int64_t)50 * 1000 * 1000)

/* Decodes a JPEG or PNG (recognised by its signature, not its name) held in
 * memory into 8-bit RGB, converting exactly as Pillow's
 * Image.open(f).convert("RGB") does (what torchvision and Keras loaders do):
 * gray is replicated, palettes expanded, alpha dropped (not composited), 16-bit
 * RGB(A)/gray-alpha samples keep their high byte, 16-bit gray saturates at 255
 * (Pillow's I -> RGB), CMYK JPEGs use Adobe (inverted) polarity. EXIF
 * orientation is ignored, as torchvision's loaders ignore it. `name` is used in
 * messages only. max_pixels <= 0 means NND_IMAGE_DEFAULT_MAX_PIXELS. On
 * success *out owns its pixels (free with nnd_image_free); on failure *out is
 * zeroed. Never prints: libjpeg/libpng warnings are swallowed, their errors
 * become NND_ERR_FORMAT naming the file; a truncated JPEG is an error. */
nnd_status nnd_image_decode(const void *data, size_t size, const char *name, int64_t max_pixels,
                            nnd_image *out, nnd_error *err);
/* nnd_image_decode on the contents of the file at path. */
nnd_status nnd_image_load(const char *path, int64_t max_pixels, nnd_image *out, nnd_error *err);
/* Frees the pixels and zeroes *img; NULL is a no-op. */
void nnd_image_free(nnd_image *img);

typedef enum nnd_resize_filter {
  /* Pillow's Image.resize(BILINEAR, reducing_gap=None): separable triangle
   * filter whose support grows with the downscale factor (antialiased),
   * fixed-point on 8-bit data, reproduced bit for bit. */
  NND_FILTER_BILINEAR = 0,
  /* Pillow's Image.resize(NEAREST) (Keras load_img's default). */
  NND_FILTER_NEAREST = 1
} nnd_resize_filter;

/* Resizes in to width x height into *out (new pixels, same channels). */
nnd_status nnd_image_resize(const nnd_image *in, int64_t width, int64_t height,
                            nnd_resize_filter filter, nnd_image *out, nnd_error *err);
/* Copies the width x height window at (left, top) of in into *out; parts of
 * the window outside in are zero (black), as torchvision pads before it crops. */
nnd_status nnd_image_crop(const nnd_image *in, int64_t left, int64_t top, int64_t width,
                          int64_t height, nnd_image *out, nnd_error *err);
/* Converts RGB to one gray channel as Pillow's convert("L") does (ITU-R 601-2
 * in 16-bit fixed point). A gray input is copied. */
nnd_status nnd_image_to_gray(const nnd_image *in, nnd_image *out, nnd_error *err);

/* ------------------------------------------------------------------------ */
/* Preprocessing                                                             */

typedef enum nnd_data_layout {
  NND_DATA_LAYOUT_AUTO = 0, /* decide from the model's input shape */
  NND_DATA_LAYOUT_NCHW = 1, /* channels first: item is [C, H, W] */
  NND_DATA_LAYOUT_NHWC = 2  /* channels last: item is [H, W, C] */
} nnd_data_layout;

typedef enum nnd_resize_mode {
  /* Resize the shorter side to `size` keeping the aspect ratio (torchvision
   * Resize(int)), then centre-crop to the output size. */
  NND_RESIZE_SHORTER = 0,
  /* Resize both sides to `size` (0: straight to the output size), then
   * centre-crop to the output size (a no-op when they are equal). */
  NND_RESIZE_DIRECT = 1
} nnd_resize_mode;

typedef enum nnd_channel_order { NND_ORDER_RGB = 0, NND_ORDER_BGR = 1 } nnd_channel_order;

/* One input pipeline: decode -> [central fraction crop] -> resize -> centre
 * crop -> channel order -> value = (pixel * scale - mean[c]) / std[c] ->
 * layout. Computed in float32 exactly as torchvision's ToTensor+Normalize and
 * Keras' preprocess_input compute it. Plain data: copy it freely. */
typedef struct nnd_preprocess {
  char preset[24];         /* the preset it started from, "" when none */
  unsigned overridden;     /* bit set of keys changed after the preset (NND_PP_KEY_*) */
  double central_fraction; /* (0,1]: keep this central part first, rounded as
                              tf.image.central_crop does; 1 = keep all */
  nnd_resize_mode resize;
  nnd_resize_filter filter;
  int64_t size;       /* see nnd_resize_mode; 0 = the output size */
  int64_t out_height; /* output (crop) size; 0 = the model's input size */
  int64_t out_width;
  double scale;           /* multiplies the 0..255 pixel value */
  double mean[3], std[3]; /* per output channel (after channel reordering) */
  nnd_channel_order order;
  nnd_data_layout layout; /* used when the model's input shape is ambiguous */
  int layout_forced;      /* set by an explicit layout= : must match the model */
  int channels;           /* 0 = the model's; 1 or 3 once resolved */
} nnd_preprocess;

/* Bits of nnd_preprocess.overridden, one per option key. */
enum {
  NND_PP_KEY_SIZE = 1u << 0,
  NND_PP_KEY_CROP = 1u << 1,
  NND_PP_KEY_FRACTION = 1u << 2,
  NND_PP_KEY_RESIZE = 1u << 3,
  NND_PP_KEY_FILTER = 1u << 4,
  NND_PP_KEY_SCALE = 1u << 5,
  NND_PP_KEY_MEAN = 1u << 6,
  NND_PP_KEY_STD = 1u << 7,
  NND_PP_KEY_ORDER = 1u << 8,
  NND_PP_KEY_LAYOUT = 1u << 9
};

/* Fills *out with a named preset:
 *   torchvision  resize shorter side 256 (Pillow bilinear), centre crop 224,
 *                x/255, mean [0.485,0.456,0.406], std [0.229,0.224,0.225], RGB, NCHW
 *   keras-tf     resize to the model's size (224x224 for the usual models),
 *                x/127.5 - 1, RGB, NHWC               (alias: tf)
 *   keras-caffe  resize to the model's size, RGB->BGR, minus
 *                [103.939,116.779,123.68] (B,G,R), NHWC (alias: caffe)
 *   keras-torch  resize to the model's size, x/255, ImageNet mean/std, NHWC
 *                (Keras preprocess_input mode 'torch': DenseNet)
 *   inception    central crop 0.875, resize to the model's size (299x299),
 *                x/127.5 - 1 ([-1,1]), RGB, NHWC
 *   raw          resize to the model's size, values 0..255, RGB, NCHW
 * Unknown names give NND_ERR_USAGE listing the known ones. */
nnd_status nnd_preprocess_preset(const char *name, nnd_preprocess *out, nnd_error *err);
/* Names of the presets, space-separated (for --help). */
const char *nnd_preprocess_preset_names(void);

/* Applies one override to *pp. Keys and values:
 *   preset=NAME          restart from a preset (see above)
 *   size=N               resize target (see nnd_resize_mode)
 *   crop=N | crop=HxW    output size (0 = the model's)
 *   fraction=F           central fraction kept before resizing, 0 < F <= 1
 *   resize=shorter|direct
 *   filter=bilinear|nearest
 *   scale=S | scale=1/D  pixel multiplier
 *   mean=M | mean=A,B,C  per output channel
 *   std=S  | std=A,B,C   per output channel, > 0
 *   order=rgb|bgr        channel order
 *   layout=nchw|nhwc|auto
 * Bad keys or values give NND_ERR_USAGE naming them. */
nnd_status nnd_preprocess_set(nnd_preprocess *pp, const char *key, const char *value,
                              nnd_error *err);

/* Parses a CLI preprocessing spec: items separated by spaces or ';', the
 * first may be a bare preset name, the rest key=value as for
 * nnd_preprocess_set, e.g. "torchvision", "inception crop=331",
 * "preset=keras-caffe;order=rgb". NULL or "" gives the torchvision preset. */
nnd_status nnd_preprocess_from_options(const char *spec, nnd_preprocess *out, nnd_error *err);

/* Writes a one-line description of pp into buf (snprintf semantics: returns
 * the length it needed, always NUL-terminates when cap > 0), e.g.
 * "torchvision: resize shorter side to 256 (Pillow bilinear, antialiased),
 *  centre crop 224x224, RGB, x/255, mean [0.485,0.456,0.406],
 *  std [0.229,0.224,0.225], NCHW". Unresolved sizes read "model's size". */
size_t nnd_preprocess_describe(const nnd_preprocess *pp, char *buf, size_t cap);

/* ------------------------------------------------------------------------ */
/* Item shapes                                                               */

#define NND_DATA_MAX_RANK 8

/* The shape of one item as the model expects it, without the batch
 * dimension: [C, H, W] or [H, W, C] for image models, anything for tensors. */
typedef struct nnd_item_shape {
  size_t rank;
  int64_t dims[NND_DATA_MAX_RANK];
  nnd_data_layout layout; /* NCHW/NHWC when the model says, AUTO to infer */
} nnd_item_shape;

/* Fixes pp for a model input: output size, channels and layout come from
 * shape where pp leaves them open. The layout is shape->layout when set, else
 * the one the dims make unambiguous (channel dim 1 or 3 on one side only),
 * else pp->layout. Fails with NND_ERR_USAGE when the shape is not an image
 * ([C,H,W]/[H,W,C] with C = 1 or 3) or contradicts pp (explicit crop or
 * forced layout), saying which option to change. */
nnd_status nnd_preprocess_resolve(const nnd_preprocess *pp, const nnd_item_shape *shape,
                                  nnd_preprocess *resolved, nnd_error *err);

/* Runs a resolved pipeline on a decoded image: writes
 * channels*out_height*out_width floats into out (out_count must be at least
 * that) and, when u8 is not NULL, the cropped 8-bit image before
 * normalisation (channels in the input's RGB order; caller frees it). */
nnd_status nnd_preprocess_image(const nnd_preprocess *resolved, const nnd_image *decoded,
                                float *out, size_t out_count, nnd_image *u8, nnd_error *err);

/* ------------------------------------------------------------------------ */
/* .npy files                                                                */

typedef enum nnd_npy_dtype {
  NND_NPY_BOOL, /* |b1 */
  NND_NPY_I8,   /* i1 */
  NND_NPY_I16,
  NND_NPY_I32,
  NND_NPY_I64,
  NND_NPY_U8, /* u1 */
  NND_NPY_U16,
  NND_NPY_U32,
  NND_NPY_U64,
  NND_NPY_F16,
  NND_NPY_F32,
  NND_NPY_F64
} nnd_npy_dtype;

#define NND_NPY_MAX_RANK 32

/* What a .npy header says, checked against the bytes that follow it. */
typedef struct nnd_npy_info {
  int version; /* 1, 2 or 3 */
  nnd_npy_dtype dtype;
  int big_endian; /* '>' byte order (multi-byte types only) */
  size_t itemsize;
  size_t rank;
  int64_t shape[NND_NPY_MAX_RANK];
  size_t count;       /* product of shape (1 for a scalar) */
  size_t data_offset; /* bytes from the start of the file to the data */
  size_t data_size;   /* count * itemsize */
} nnd_npy_info;

/* Parses and checks a .npy held in memory (size bytes; the data must all be
 * there unless header_only). Magic, version 1/2/3, header length, the header
 * dict ('descr', 'fortran_order', 'shape', nothing else), dtype (bool,
 * integers, floats; little or big endian), fortran_order False only, and
 * shape product * itemsize overflow and file size. Errors are NND_ERR_FORMAT
 * (malformed) or NND_ERR_UNSUPPORTED (dtype, fortran order), naming `name`. */
nnd_status nnd_npy_parse(const void *data, size_t size, int header_only, const char *name,
                         nnd_npy_info *out, nnd_error *err);
/* Converts count elements of raw array data (laid out as info says, starting
 * at element 0 of `raw`) to float32. */
void nnd_npy_to_f32(const nnd_npy_info *info, const void *raw, size_t count, float *out);
/* Converts count elements to int64; fails with NND_ERR_FORMAT if the dtype is
 * a float type (labels must be integers). */
nnd_status nnd_npy_to_i64(const nnd_npy_info *info, const void *raw, size_t count, int64_t *out,
                          const char *name, nnd_error *err);

/* Writes a C-order little-endian .npy (version 1, or 2 when the header needs
 * it) of dtype F32, U8 or I64 atomically: a temporary file in the same
 * directory is written, flushed and renamed over path, so readers never see a
 * partial file. */
nnd_status nnd_npy_write(const char *path, nnd_npy_dtype dtype, const int64_t *shape, size_t rank,
                         const void *data, nnd_error *err);
/* nnd_npy_write with dtype F32. */
nnd_status nnd_npy_write_f32(const char *path, const int64_t *shape, size_t rank, const float *data,
                             nnd_error *err);

/* A .npy written piece by piece, for results too large to hold or produced
 * batch by batch, with the same atomicity as nnd_npy_write: open writes the
 * header into a temporary file beside path (shape known up front); append
 * adds `count` elements (row-major order); commit checks that exactly the
 * promised number of elements was written, then flushes, syncs and renames
 * the file onto path; abort removes the temporary file. So a run that stops
 * early (an error, a signal) leaves nothing at path. commit and abort free
 * the writer; abort(NULL) is a no-op. Dtypes as nnd_npy_write. */
typedef struct nnd_npy_writer nnd_npy_writer;
nnd_status nnd_npy_writer_open(const char *path, nnd_npy_dtype dtype, const int64_t *shape,
                               size_t rank, nnd_npy_writer **out, nnd_error *err);
/* The same onto a stream the caller owns and commits (several result files
 * that appear together): commit only checks the element count and frees the
 * writer, abort only frees it. name is the stream's name in messages. */
nnd_status nnd_npy_writer_open_stream(FILE *stream, const char *name, nnd_npy_dtype dtype,
                                      const int64_t *shape, size_t rank, nnd_npy_writer **out,
                                      nnd_error *err);
nnd_status nnd_npy_writer_append(nnd_npy_writer *w, const void *data, size_t count, nnd_error *err);
nnd_status nnd_npy_writer_commit(nnd_npy_writer *w, nnd_error *err);
void nnd_npy_writer_abort(nnd_npy_writer *w);

/* ------------------------------------------------------------------------ */
/* Datasets                                                                  */

typedef struct nnd_dataset nnd_dataset;

typedef enum nnd_dataset_kind {
  NND_DATASET_IMAGES, /* a directory of JPEG/PNG files, or one image file */
  NND_DATASET_TENSOR  /* a .npy, or an array in a .npz: [N, ...] preprocessed */
} nnd_dataset_kind;

typedef struct nnd_dataset_options {
  /* Image labels: lines "relative/path/or/filename label" (ImageNet style)
   * or CSV "file,label" (header optional), integer class indices. For tensor
   * datasets: a .npy of N integers. NULL: an image directory's own
   * labels.txt or labels.csv when present (unless no_auto_labels). */
  const char *labels_path;
  int no_auto_labels;
  const char *npz_member;           /* array of a .npz to use; NULL: the first */
  const char *npz_labels_member;    /* integer array of the .npz holding labels */
  const nnd_preprocess *preprocess; /* copied; NULL: the torchvision preset */
  int64_t max_pixels;               /* <= 0: NND_IMAGE_DEFAULT_MAX_PIXELS */
} nnd_dataset_options;

/* Opens path: a directory (walked recursively; .jpg/.jpeg/.png in any case;
 * names starting with '.' skipped; symlinks followed, loops skipped; items
 * sorted by relative path in byte order, so the order is the same on every
 * machine), one image file, a .npy, or a .npz (a member may be named as
 * "file.npz:member" too). opts may be NULL. Labels are matched to images by
 * relative path, or by file name when the label file gives bare names (an
 * ambiguous bare name is an error). Errors name the file and, for label
 * files, the line. */
nnd_status nnd_dataset_open(const char *path, const nnd_dataset_options *opts, nnd_dataset **out,
                            nnd_error *err);
/* NULL is a no-op. */
void nnd_dataset_close(nnd_dataset *ds);

size_t nnd_dataset_count(const nnd_dataset *ds);
/* Restricts the dataset to n of its items: afterwards item i is the whole
 * set's item indices[i] (names keep the whole set's numbering, "x.npy[17]")
 * and nnd_dataset_count is n. indices NULL shows every item again. The
 * indices are copied. How repair localizes on one part of D and verifies on
 * the other. Not to be called while another thread reads the dataset.
 * NND_ERR_USAGE for an index out of range. */
nnd_status nnd_dataset_select(nnd_dataset *ds, const size_t *indices, size_t n, nnd_error *err);
nnd_dataset_kind nnd_dataset_get_kind(const nnd_dataset *ds);
/* 1 when labels were loaded (items may still have label -1). */
int nnd_dataset_has_labels(const nnd_dataset *ds);
/* Tensor datasets: the shape of one item as stored (without N); NULL for images. */
const nnd_item_shape *nnd_dataset_item_shape(const nnd_dataset *ds);
/* The preprocessing the dataset applies (unresolved), or NULL for tensors. */
const nnd_preprocess *nnd_dataset_preprocess(const nnd_dataset *ds);

typedef struct nnd_item_info {
  const char *name; /* relative image path, or "data.npy[17]"; owned by the
                       dataset, valid until nnd_dataset_close */
  int64_t label;    /* class index, -1 when none */
} nnd_item_info;

/* Name and label of item index without decoding it. */
nnd_status nnd_dataset_item(const nnd_dataset *ds, size_t index, nnd_item_info *info,
                            nnd_error *err);

/* Fetches item index into out (out_count floats, at least the product of
 * shape->dims) as the model expects it. Images are decoded and preprocessed
 * (see nnd_preprocess_resolve); tensor items are converted to float32 and
 * must have the model's shape, except that an [H,W,C] item is transposed for
 * a [C,H,W] model and vice versa. info may be NULL. Safe to call from several
 * threads at once on one dataset. */
nnd_status nnd_dataset_read(nnd_dataset *ds, size_t index, const nnd_item_shape *shape, float *out,
                            size_t out_count, nnd_item_info *info, nnd_error *err);

/* Image datasets: decodes item index into *out (8-bit RGB, as
 * nnd_image_load does) without preprocessing, so a caller feeding several
 * models with different preprocessing decodes each image once and runs
 * nnd_preprocess_image per pipeline. info may be NULL. Errors name the file.
 * NND_ERR_USAGE for a tensor dataset. Safe from several threads at once. */
nnd_status nnd_dataset_decode(nnd_dataset *ds, size_t index, nnd_image *out, nnd_item_info *info,
                              nnd_error *err);

/* nnd_preprocess_image (no u8 copy) of item `index`'s decoded image, with an
 * error that names the item's file: "photos/strip.png: cannot preprocess
 * this 60000x1 image: resize: ...". An image the pipeline cannot take (its
 * aspect ratio makes a resized side too large) is NND_ERR_UNSUPPORTED, an
 * item error like a corrupt file; NND_ERR_NOMEM stays itself. */
nnd_status nnd_dataset_preprocess_image(const nnd_dataset *ds, size_t index,
                                        const nnd_preprocess *resolved, const nnd_image *decoded,
                                        float *out, size_t out_count, nnd_error *err);

/* One line describing the data source, e.g. "images: val/ (50000 JPEG/PNG
 * files; labels val/labels.txt, 50000 labelled)" or "tensor: x.npz:images
 * [100,3,224,224] <f4". snprintf semantics. */
size_t nnd_dataset_describe(const nnd_dataset *ds, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif

/* Internal interfaces shared by the files of the data module. */
#ifndef NND_DATA_INTERNAL_H
#define NND_DATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "nndiff/data.h"

/* The size of one element of a .npy dtype. */
size_t nnd__npy_itemsize(nnd_npy_dtype dtype);

/* Reads a whole file into a malloc'ed buffer (at most max_size bytes, else
 * NND_ERR_FORMAT "too large"). *size_out is its length. */
nnd_status nnd__read_file(const char *path, size_t max_size, unsigned char **data_out,
                          size_t *size_out, nnd_error *err);

/* ---- .npz (libzip) ---- */
typedef struct nnd__npz nnd__npz;
typedef struct nnd__npz_array nnd__npz_array;

/* Opens a zip archive from a file or from memory (data kept by the caller
 * until close). name is used in messages. */
nnd_status nnd__npz_open_file(const char *path, nnd__npz **out, nnd_error *err);
nnd_status nnd__npz_open_memory(const void *data, size_t size, const char *name, nnd__npz **out,
                                nnd_error *err);
void nnd__npz_close(nnd__npz *npz);
/* Number of members and the i-th member's array name ("x" for "x.npy"). */
size_t nnd__npz_count(const nnd__npz *npz);
const char *nnd__npz_member_name(const nnd__npz *npz, size_t i);
/* Opens an array: member (with or without ".npy"), or the first member when
 * NULL; parses and checks its .npy header against the member's size. */
nnd_status nnd__npz_array_open(nnd__npz *npz, const char *member, nnd__npz_array **out,
                               nnd_error *err);
void nnd__npz_array_close(nnd__npz_array *arr);
const nnd_npy_info *nnd__npz_array_info(const nnd__npz_array *arr);
const char *nnd__npz_array_name(const nnd__npz_array *arr);
/* Reads size bytes of the array's data at byte offset (from the start of the
 * data) into buf. Streams: forward reads are cheap, backward reads of a
 * deflated member restart it. Not thread-safe: callers serialise. */
nnd_status nnd__npz_array_read(nnd__npz_array *arr, uint64_t offset, void *buf, size_t size,
                               nnd_error *err);

/* ---- labels ---- */
typedef struct nnd__label_entry {
  char *key; /* relative path or bare file name as written */
  int64_t label;
  size_t line; /* 1-based line in the labels file */
} nnd__label_entry;

typedef struct nnd__labels {
  nnd__label_entry *entries; /* sorted by key (byte order) */
  size_t count;
  int csv; /* the file was CSV */
} nnd__labels;

/* Parses a labels file held in memory: ImageNet-style "path label" lines
 * (the label is the last whitespace-separated field, so paths may contain
 * spaces) or CSV "file,label" lines (chosen when the name ends in .csv or
 * the first data line has a comma), with an optional header line. Blank lines
 * and lines starting with '#' are skipped; CRLF and a UTF-8 BOM are accepted.
 * Bad lines and duplicate keys give NND_ERR_FORMAT with name:line. */
nnd_status nnd__labels_parse(const char *text, size_t size, const char *name, nnd__labels *out,
                             nnd_error *err);
void nnd__labels_free(nnd__labels *labels);
/* The entry for key, or NULL. */
const nnd__label_entry *nnd__labels_find(const nnd__labels *labels, const char *key);

/* ---- directory walk ---- */
/* Collects the relative paths of the image files under dir, sorted in byte
 * order. *skipped counts regular files that are not images. */
nnd_status nnd__list_images(const char *dir, char ***paths_out, size_t *count_out, size_t *skipped,
                            nnd_error *err);
/* 1 if the name ends in .jpg, .jpeg or .png (any case). */
int nnd__is_image_name(const char *name);

#endif

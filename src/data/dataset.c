/* Datasets: an image directory (walked recursively, sorted in byte order so
 * every machine and every shard sees the same item order) with optional
 * labels, one image file, or a preprocessed tensor file (.npy mapped, .npz
 * streamed), fetched one item at a time into the caller's float buffer. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data_internal.h"
#include "nndiff/data.h"
#include "util/checked_math.h"
#include "util/input_file.h"
#include "util/mapped_file.h"

enum { LABELS_MAX_BYTES = 256 << 20, WALK_MAX_DEPTH = 64 };

struct nnd_dataset {
  nnd_dataset_kind kind;
  char *path; /* as given */
  /* images */
  char *root;   /* directory the item names are relative to ("" for one file) */
  char **names; /* relative paths, sorted */
  size_t count;
  size_t skipped;  /* non-image files seen in the walk */
  int64_t *labels; /* per item, -1 when none; NULL without labels */
  char *labels_path;
  size_t labelled;
  nnd_preprocess pp;
  int64_t max_pixels;
  /* tensors */
  nnd_mapped_file *npy; /* .npy: mapped */
  nnd__npz *npz;        /* .npz: streamed through member */
  nnd__npz_array *member;
  pthread_mutex_t npz_lock; /* the member stream is not reentrant */
  int npz_lock_init;
  nnd_npy_info info;
  const unsigned char *data; /* .npy: the array data in the mapping */
  nnd_item_shape item_shape;
  size_t item_count;  /* elements per item */
  char *tensor_label; /* "x.npz:images" or "x.npy" */
  char **item_names;  /* lazily built "x.npy[17]" names */
  pthread_mutex_t names_lock;
  /* nnd_dataset_select: the items visible, as indices into the whole set
   * (NULL: all of them) */
  size_t *sel;
  size_t sel_count;
};

/* A visible index to the item's index in the whole set; false when out of
 * range (the message names both counts). */
static bool real_index(const nnd_dataset *ds, size_t index, size_t *out, nnd_error *err) {
  size_t n = ds->sel ? ds->sel_count : ds->count;
  if (index >= n) {
    nnd_error_set(err, NND_ERR_USAGE, "%s: item %zu out of range (%zu items)", ds->path, index, n);
    return false;
  }
  *out = ds->sel ? ds->sel[index] : index;
  return true;
}

nnd_status nnd_dataset_select(nnd_dataset *ds, const size_t *indices, size_t n, nnd_error *err) {
  if (!indices) {
    free(ds->sel);
    ds->sel = NULL;
    ds->sel_count = 0;
    return NND_OK;
  }
  for (size_t i = 0; i < n; i++)
    if (indices[i] >= ds->count)
      return nnd_error_set(err, NND_ERR_USAGE, "%s: item %zu out of range (%zu items)", ds->path,
                           indices[i], ds->count);
  size_t *copy = malloc((n ? n : 1) * sizeof *copy);
  if (!copy) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory selecting dataset items");
  if (n) memcpy(copy, indices, n * sizeof *copy);
  free(ds->sel);
  ds->sel = copy;
  ds->sel_count = n;
  return NND_OK;
}

/* ---- directory walk ---- */

int nnd__is_image_name(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot) return 0;
  return !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png");
}

typedef struct walk {
  char **paths;
  size_t count, cap, skipped;
  struct {
    dev_t dev;
    ino_t ino;
  } stack[WALK_MAX_DEPTH + 1];
  int depth;
  nnd_error *err;
} walk;

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static nnd_status walk_push(walk *w, const char *rel) {
  if (w->count == w->cap) {
    size_t ncap = w->cap ? w->cap * 2 : 1024;
    char **np = realloc(w->paths, ncap * sizeof *np);
    if (!np) return nnd_error_set(w->err, NND_ERR_NOMEM, "out of memory listing images");
    w->paths = np;
    w->cap = ncap;
  }
  if (!(w->paths[w->count] = strdup(rel)))
    return nnd_error_set(w->err, NND_ERR_NOMEM, "out of memory listing images");
  w->count++;
  return NND_OK;
}

/* dir is the full path of the directory, rel its path relative to the root
 * ("" for the root). */
static nnd_status walk_dir(walk *w, const char *dir, const char *rel, const struct stat *dst) {
  for (int i = 0; i < w->depth; i++)
    if (w->stack[i].dev == dst->st_dev && w->stack[i].ino == dst->st_ino)
      return NND_OK; /* a symlink loop: already on the current path */
  if (w->depth >= WALK_MAX_DEPTH)
    return nnd_error_set(w->err, NND_ERR_USAGE, "%s: directories nested deeper than %d", dir,
                         WALK_MAX_DEPTH);
  w->stack[w->depth].dev = dst->st_dev;
  w->stack[w->depth].ino = dst->st_ino;
  w->depth++;
  DIR *d = opendir(dir);
  if (!d) {
    w->depth--;
    return nnd_error_set(w->err, NND_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
  }
  nnd_status st = NND_OK;
  struct dirent *de;
  char *full = NULL, *sub = NULL;
  while (!st && (errno = 0, de = readdir(d))) {
    if (de->d_name[0] == '.') continue; /* ., .., hidden files, macOS ._ files */
    free(full);
    free(sub);
    full = sub = NULL;
    if (asprintf(&full, "%s/%s", dir, de->d_name) < 0 ||
        asprintf(&sub, "%s%s%s", rel, *rel ? "/" : "", de->d_name) < 0) {
      full = sub = NULL;
      st = nnd_error_set(w->err, NND_ERR_NOMEM, "out of memory listing images");
      break;
    }
    struct stat sst;
    if (stat(full, &sst) != 0) continue; /* a dangling symlink */
    /* Only directories and regular files count: a FIFO, a device or a
     * socket is passed over by its stat, never opened (a FIFO would block). */
    if (S_ISDIR(sst.st_mode))
      st = walk_dir(w, full, sub, &sst);
    else if (S_ISREG(sst.st_mode) && nnd__is_image_name(de->d_name))
      st = walk_push(w, sub);
    else if (S_ISREG(sst.st_mode))
      w->skipped++;
  }
  if (!st && errno)
    st = nnd_error_set(w->err, NND_ERR_IO, "%s: cannot read directory: %s", dir, strerror(errno));
  free(full);
  free(sub);
  closedir(d);
  w->depth--;
  return st;
}

nnd_status nnd__list_images(const char *dir, char ***paths_out, size_t *count_out, size_t *skipped,
                            nnd_error *err) {
  *paths_out = NULL;
  *count_out = 0;
  walk *w = calloc(1, sizeof *w);
  if (!w) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory listing images");
  w->err = err;
  struct stat st;
  nnd_status status;
  if (stat(dir, &st) != 0)
    status = nnd_error_set(err, NND_ERR_IO, "%s: %s", dir, strerror(errno));
  else if (!S_ISDIR(st.st_mode))
    status = nnd_error_set(err, NND_ERR_USAGE, "%s: not a directory", dir);
  else
    status = walk_dir(w, dir, "", &st);
  if (status) {
    for (size_t i = 0; i < w->count; i++)
      free(w->paths[i]);
    free(w->paths);
    free(w);
    return status;
  }
  if (w->count) qsort(w->paths, w->count, sizeof *w->paths, cmp_str);
  *paths_out = w->paths;
  *count_out = w->count;
  if (skipped) *skipped = w->skipped;
  free(w);
  return NND_OK;
}

/* ---- opening ---- */

static int has_ext(const char *path, const char *ext) {
  size_t n = strlen(path), m = strlen(ext);
  return n >= m && !strcasecmp(path + n - m, ext);
}

static nnd_status attach_image_labels(nnd_dataset *ds, const char *labels_path, nnd_error *err) {
  unsigned char *text;
  size_t size;
  nnd_status st = nnd__read_file(labels_path, LABELS_MAX_BYTES, &text, &size, err);
  if (st) return st;
  nnd__labels labels;
  st = nnd__labels_parse((const char *)text, size, labels_path, &labels, err);
  free(text);
  if (st) return st;
  ds->labels = malloc(ds->count * sizeof *ds->labels);
  ds->labels_path = strdup(labels_path);
  /* bare-name keys match by file name: count file names to catch ambiguity */
  char **base_sorted = malloc(ds->count * sizeof *base_sorted);
  if (!ds->labels || !ds->labels_path || !base_sorted) {
    free(base_sorted);
    nnd__labels_free(&labels);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  }
  for (size_t i = 0; i < ds->count; i++) {
    const char *slash = strrchr(ds->names[i], '/');
    base_sorted[i] = slash ? (char *)slash + 1 : ds->names[i];
  }
  qsort(base_sorted, ds->count, sizeof *base_sorted, cmp_str);
  for (size_t i = 0; i < ds->count && !st; i++) {
    const nnd__label_entry *e = nnd__labels_find(&labels, ds->names[i]);
    if (!e) {
      const char *slash = strrchr(ds->names[i], '/');
      if (slash) {
        e = nnd__labels_find(&labels, slash + 1);
        if (e) {
          const char *key = slash + 1;
          char **hit = bsearch(&key, base_sorted, ds->count, sizeof *base_sorted, cmp_str);
          int dup = hit && ((hit > base_sorted && !strcmp(hit[-1], key)) ||
                            (hit + 1 < base_sorted + ds->count && !strcmp(hit[1], key)));
          if (dup)
            st = nnd_error_set(err, NND_ERR_FORMAT,
                               "%s:%zu: '%s' matches several images (e.g. %s); give relative "
                               "paths in the labels file",
                               labels_path, e->line, key, ds->names[i]);
        }
      }
    }
    ds->labels[i] = e ? e->label : -1;
    if (e) ds->labelled++;
  }
  free(base_sorted);
  /* A labels file that names none of the images is a wrong path prefix or
   * the wrong file, not a dataset without labels: say so now. */
  if (!st && ds->labelled == 0)
    st = nnd_error_set(err, NND_ERR_FORMAT,
                       "%s: none of its %zu names matches an image (its first is '%s', the first "
                       "image is '%s'); names must be paths relative to the dataset or bare file "
                       "names",
                       labels_path, labels.count, labels.entries[0].key, ds->names[0]);
  nnd__labels_free(&labels);
  return st;
}

static nnd_status open_images(nnd_dataset *ds, const char *path, int is_dir,
                              const nnd_dataset_options *o, nnd_error *err) {
  ds->kind = NND_DATASET_IMAGES;
  nnd_status st;
  if (is_dir) {
    ds->root = strdup(path);
    if (!ds->root) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    size_t n = strlen(ds->root);
    while (n > 1 && ds->root[n - 1] == '/')
      ds->root[--n] = '\0';
    st = nnd__list_images(ds->root, &ds->names, &ds->count, &ds->skipped, err);
    if (st) return st;
    if (ds->count == 0)
      return nnd_error_set(err, NND_ERR_USAGE,
                           "%s: no images found (JPEG or PNG files named *.jpg, *.jpeg, *.png)",
                           path);
  } else {
    ds->root = strdup("");
    ds->names = malloc(sizeof *ds->names);
    if (!ds->root || !ds->names || !(ds->names[0] = strdup(path)))
      return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    ds->count = 1;
  }
  const char *labels_path = o ? o->labels_path : NULL;
  char *auto_path = NULL;
  if (!labels_path && is_dir && !(o && o->no_auto_labels)) {
    static const char *const candidates[] = {"labels.txt", "labels.csv"};
    for (size_t i = 0; i < 2 && !labels_path; i++) {
      struct stat sst;
      free(auto_path);
      if (asprintf(&auto_path, "%s/%s", ds->root, candidates[i]) < 0) {
        auto_path = NULL;
        return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
      }
      if (stat(auto_path, &sst) == 0 && S_ISREG(sst.st_mode)) labels_path = auto_path;
    }
  }
  st = labels_path ? attach_image_labels(ds, labels_path, err) : NND_OK;
  free(auto_path);
  return st;
}

static nnd_status set_tensor_shape(nnd_dataset *ds, nnd_error *err) {
  const nnd_npy_info *in = &ds->info;
  if (in->rank < 1)
    return nnd_error_set(err, NND_ERR_FORMAT,
                         "%s: a dataset array needs shape [N, ...], got a scalar",
                         ds->tensor_label);
  if (in->rank - 1 > NND_DATA_MAX_RANK)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED, "%s: items of rank %zu are not supported",
                         ds->tensor_label, in->rank - 1);
  ds->count = (size_t)in->shape[0];
  ds->item_shape.rank = in->rank - 1;
  ds->item_count = 1;
  for (size_t i = 1; i < in->rank; i++) {
    ds->item_shape.dims[i - 1] = in->shape[i];
    ds->item_count *= (size_t)in->shape[i]; /* cannot overflow: the parser checked the product */
  }
  if (ds->count == 0)
    return nnd_error_set(err, NND_ERR_USAGE, "%s: the array holds no items (N = 0)",
                         ds->tensor_label);
  return NND_OK;
}

static nnd_status tensor_labels_from(nnd_dataset *ds, const nnd_npy_info *li, const void *raw,
                                     const char *label_name, nnd_error *err) {
  size_t n = li->count;
  if (!(li->rank == 1 || (li->rank == 2 && li->shape[1] == 1)) || n != ds->count)
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: labels must have shape [%zu], got %zu elements",
                         label_name, ds->count, n);
  ds->labels = malloc(n * sizeof *ds->labels);
  ds->labels_path = strdup(label_name);
  if (!ds->labels || !ds->labels_path) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  nnd_status st = nnd_npy_to_i64(li, raw, n, ds->labels, label_name, err);
  if (st) return st;
  for (size_t i = 0; i < n; i++) {
    if (ds->labels[i] < -1)
      return nnd_error_set(err, NND_ERR_FORMAT, "%s: label %lld of item %zu is negative",
                           label_name, (long long)ds->labels[i], i);
    if (ds->labels[i] >= 0) ds->labelled++;
  }
  return NND_OK;
}

static nnd_status open_tensor_labels(nnd_dataset *ds, const nnd_dataset_options *o,
                                     nnd_error *err) {
  nnd_status st = NND_OK;
  if (o && o->npz_labels_member) {
    if (!ds->npz)
      return nnd_error_set(err, NND_ERR_USAGE, "%s: npz_labels_member given for a non-.npz file",
                           ds->path);
    nnd__npz_array *arr;
    st = nnd__npz_array_open(ds->npz, o->npz_labels_member, &arr, err);
    if (st) return st;
    const nnd_npy_info *li = nnd__npz_array_info(arr);
    void *raw = malloc(li->data_size ? li->data_size : 1);
    if (!raw) st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    if (!st) st = nnd__npz_array_read(arr, 0, raw, li->data_size, err);
    if (!st) st = tensor_labels_from(ds, li, raw, nnd__npz_array_name(arr), err);
    free(raw);
    nnd__npz_array_close(arr);
    return st;
  }
  if (o && o->labels_path) {
    if (!has_ext(o->labels_path, ".npy"))
      return nnd_error_set(err, NND_ERR_USAGE,
                           "%s: labels for a tensor dataset must be a .npy of N integers",
                           o->labels_path);
    nnd_mapped_file *mf;
    st = nnd_mapped_file_open(o->labels_path, &mf, err);
    if (st) return st;
    nnd_npy_info li;
    st = nnd_npy_parse(mf->data, mf->size, 0, o->labels_path, &li, err);
    if (!st) st = tensor_labels_from(ds, &li, mf->data + li.data_offset, o->labels_path, err);
    nnd_mapped_file_close(mf);
  }
  return st;
}

static nnd_status open_tensor(nnd_dataset *ds, const char *path, const char *member,
                              const nnd_dataset_options *o, nnd_error *err) {
  ds->kind = NND_DATASET_TENSOR;
  nnd_status st;
  if (has_ext(path, ".npz")) {
    st = nnd__npz_open_file(path, &ds->npz, err);
    if (!st) st = nnd__npz_array_open(ds->npz, member, &ds->member, err);
    if (st) return st;
    ds->info = *nnd__npz_array_info(ds->member);
    ds->tensor_label = strdup(nnd__npz_array_name(ds->member));
    if (pthread_mutex_init(&ds->npz_lock, NULL) == 0) ds->npz_lock_init = 1;
    if (!ds->npz_lock_init) return nnd_error_set(err, NND_ERR_INTERNAL, "mutex init failed");
  } else {
    st = nnd_mapped_file_open(path, &ds->npy, err);
    if (!st) st = nnd_npy_parse(ds->npy->data, ds->npy->size, 0, path, &ds->info, err);
    if (st) return st;
    ds->data = ds->npy->data + ds->info.data_offset;
    ds->tensor_label = strdup(path);
  }
  if (!ds->tensor_label) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  st = set_tensor_shape(ds, err);
  if (!st) st = open_tensor_labels(ds, o, err);
  return st;
}

nnd_status nnd_dataset_open(const char *path, const nnd_dataset_options *opts, nnd_dataset **out,
                            nnd_error *err) {
  *out = NULL;
  if (!path || !*path) return nnd_error_set(err, NND_ERR_USAGE, "no dataset path given");
  nnd_dataset *ds = calloc(1, sizeof *ds);
  if (!ds) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  pthread_mutex_init(&ds->names_lock, NULL);
  ds->path = strdup(path);
  ds->max_pixels = opts && opts->max_pixels > 0 ? opts->max_pixels : NND_IMAGE_DEFAULT_MAX_PIXELS;
  nnd_status st = NND_OK;
  if (opts && opts->preprocess)
    ds->pp = *opts->preprocess;
  else
    st = nnd_preprocess_preset("torchvision", &ds->pp, err);
  if (!ds->path && !st) st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  struct stat sst;
  if (!st) {
    const char *member = opts ? opts->npz_member : NULL;
    char *file = NULL;
    if (stat(path, &sst) != 0) {
      /* "archive.npz:member" */
      const char *colon = strrchr(path, ':');
      if (colon && colon > path && colon[1] && (file = strndup(path, (size_t)(colon - path))) &&
          has_ext(file, ".npz") && stat(file, &sst) == 0) {
        member = colon + 1;
      } else {
        free(file);
        file = NULL;
        st = nnd_error_set(err, NND_ERR_IO, "%s: cannot open dataset: %s", path, strerror(ENOENT));
      }
    }
    const char *p = file ? file : path;
    if (!st && !S_ISDIR(sst.st_mode) && !S_ISREG(sst.st_mode))
      st = nnd_error_set(err, NND_ERR_IO, "%s: not a regular file (%s)", p,
                         nnd_file_kind(sst.st_mode));
    if (!st) {
      if (S_ISDIR(sst.st_mode))
        st = open_images(ds, p, 1, opts, err);
      else if (has_ext(p, ".npy") || has_ext(p, ".npz"))
        st = open_tensor(ds, p, member, opts, err);
      else if (nnd__is_image_name(p))
        st = open_images(ds, p, 0, opts, err);
      else
        st = nnd_error_set(err, NND_ERR_USAGE,
                           "%s: not a dataset (expected a directory of images, an image, a .npy "
                           "or a .npz)",
                           p);
    }
    free(file);
  }
  if (st) {
    nnd_dataset_close(ds);
    return st;
  }
  *out = ds;
  return NND_OK;
}

void nnd_dataset_close(nnd_dataset *ds) {
  if (!ds) return;
  for (size_t i = 0; ds->names && i < ds->count; i++)
    free(ds->names[i]);
  free(ds->names);
  if (ds->item_names) {
    for (size_t i = 0; i < ds->count; i++)
      free(ds->item_names[i]);
    free(ds->item_names);
  }
  free(ds->root);
  free(ds->labels);
  free(ds->labels_path);
  free(ds->tensor_label);
  free(ds->path);
  free(ds->sel);
  nnd__npz_array_close(ds->member);
  nnd__npz_close(ds->npz);
  nnd_mapped_file_close(ds->npy);
  if (ds->npz_lock_init) pthread_mutex_destroy(&ds->npz_lock);
  pthread_mutex_destroy(&ds->names_lock);
  free(ds);
}

size_t nnd_dataset_count(const nnd_dataset *ds) { return ds->sel ? ds->sel_count : ds->count; }
nnd_dataset_kind nnd_dataset_get_kind(const nnd_dataset *ds) { return ds->kind; }
int nnd_dataset_has_labels(const nnd_dataset *ds) { return ds->labels != NULL; }

const nnd_item_shape *nnd_dataset_item_shape(const nnd_dataset *ds) {
  return ds->kind == NND_DATASET_TENSOR ? &ds->item_shape : NULL;
}

const nnd_preprocess *nnd_dataset_preprocess(const nnd_dataset *ds) {
  return ds->kind == NND_DATASET_IMAGES ? &ds->pp : NULL;
}

nnd_status nnd_dataset_item(const nnd_dataset *ds, size_t index, nnd_item_info *info,
                            nnd_error *err) {
  if (!real_index(ds, index, &index, err)) return NND_ERR_USAGE;
  info->label = ds->labels ? ds->labels[index] : -1;
  if (ds->kind == NND_DATASET_IMAGES) {
    info->name = ds->names[index];
    return NND_OK;
  }
  /* Tensor item names are made on first use: N may be in the millions. */
  nnd_dataset *mut = (nnd_dataset *)ds;
  nnd_status st = NND_OK;
  pthread_mutex_lock(&mut->names_lock);
  if (!mut->item_names) mut->item_names = calloc(ds->count, sizeof(char *));
  if (!mut->item_names) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  } else if (!mut->item_names[index] &&
             asprintf(&mut->item_names[index], "%s[%zu]", ds->tensor_label, index) < 0) {
    mut->item_names[index] = NULL;
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  }
  info->name = st ? NULL : mut->item_names[index];
  pthread_mutex_unlock(&mut->names_lock);
  return st;
}

static void describe_shape(const nnd_item_shape *s, char *buf, size_t cap) {
  size_t n = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < s->rank && n < cap; i++)
    n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? "," : "", (long long)s->dims[i]);
}

static nnd_status read_tensor(nnd_dataset *ds, size_t index, const nnd_item_shape *shape,
                              float *out, size_t out_count, nnd_error *err) {
  const nnd_item_shape *have = &ds->item_shape;
  int same = have->rank == shape->rank;
  for (size_t i = 0; same && i < shape->rank; i++)
    same = have->dims[i] == shape->dims[i];
  /* [H,W,C] stored for a [C,H,W] model (or the reverse): transpose. */
  int hwc_to_chw = 0, chw_to_hwc = 0;
  if (!same && have->rank == 3 && shape->rank == 3) {
    hwc_to_chw = have->dims[2] == shape->dims[0] && have->dims[0] == shape->dims[1] &&
                 have->dims[1] == shape->dims[2] && shape->layout != NND_DATA_LAYOUT_NHWC;
    chw_to_hwc = !hwc_to_chw && have->dims[0] == shape->dims[2] &&
                 have->dims[1] == shape->dims[0] && have->dims[2] == shape->dims[1] &&
                 shape->layout != NND_DATA_LAYOUT_NCHW;
  }
  if (!same && !hwc_to_chw && !chw_to_hwc) {
    char a[160], b[160];
    describe_shape(have, a, sizeof a);
    describe_shape(shape, b, sizeof b);
    return nnd_error_set(err, NND_ERR_USAGE, "%s: items have shape [%s] but the model takes [%s]",
                         ds->tensor_label, a, b);
  }
  if (out_count < ds->item_count)
    return nnd_error_set(err, NND_ERR_USAGE, "output buffer holds %zu floats, need %zu", out_count,
                         ds->item_count);
  size_t isz = ds->info.itemsize, bytes = ds->item_count * isz;
  float *dst = out;
  float *tmp = NULL;
  if (hwc_to_chw || chw_to_hwc) {
    tmp = malloc(ds->item_count * sizeof(float));
    if (!tmp) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    dst = tmp;
  }
  nnd_status st = NND_OK;
  if (ds->npz) {
    void *raw = malloc(bytes ? bytes : 1);
    if (!raw) {
      free(tmp);
      return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_lock(&ds->npz_lock);
    st = nnd__npz_array_read(ds->member, (uint64_t)index * bytes, raw, bytes, err);
    pthread_mutex_unlock(&ds->npz_lock);
    if (!st) nnd_npy_to_f32(&ds->info, raw, ds->item_count, dst);
    free(raw);
  } else {
    nnd_npy_to_f32(&ds->info, ds->data + index * bytes, ds->item_count, dst);
  }
  if (!st && tmp) {
    const int64_t *d = have->dims;
    size_t A = (size_t)d[0], B = (size_t)d[1], C = (size_t)d[2];
    /* stored [A,B,C]; hwc_to_chw: out [C,A,B]; chw_to_hwc: out [B,C,A] */
    for (size_t a = 0; a < A; a++)
      for (size_t b = 0; b < B; b++)
        for (size_t c = 0; c < C; c++) {
          float v = tmp[(a * B + b) * C + c];
          if (hwc_to_chw)
            out[(c * A + a) * B + b] = v;
          else
            out[(b * C + c) * A + a] = v;
        }
  }
  free(tmp);
  return st;
}

nnd_status nnd_dataset_read(nnd_dataset *ds, size_t index, const nnd_item_shape *shape, float *out,
                            size_t out_count, nnd_item_info *info, nnd_error *err) {
  nnd_item_info tmp_info;
  nnd_status st = nnd_dataset_item(ds, index, info ? info : &tmp_info, err);
  if (st) return st;
  if (!shape || shape->rank > NND_DATA_MAX_RANK)
    return nnd_error_set(err, NND_ERR_USAGE, "no or bad model input shape given");
  if (ds->kind == NND_DATASET_TENSOR) {
    size_t real = index;
    real_index(ds, index, &real, err); /* in range: nnd_dataset_item checked it */
    return read_tensor(ds, real, shape, out, out_count, err);
  }
  nnd_preprocess resolved;
  st = nnd_preprocess_resolve(&ds->pp, shape, &resolved, err);
  if (st) return st;
  nnd_image img;
  st = nnd_dataset_decode(ds, index, &img, NULL, err);
  if (!st) st = nnd_dataset_preprocess_image(ds, index, &resolved, &img, out, out_count, err);
  nnd_image_free(&img);
  return st;
}

nnd_status nnd_dataset_preprocess_image(const nnd_dataset *ds, size_t index,
                                        const nnd_preprocess *resolved, const nnd_image *decoded,
                                        float *out, size_t out_count, nnd_error *err) {
  size_t real = 0;
  if (ds->kind != NND_DATASET_IMAGES || !real_index(ds, index, &real, NULL))
    return nnd_error_set(err, NND_ERR_USAGE, "%s: no image %zu to preprocess", ds->path, index);
  index = real;
  nnd_error local = {0};
  nnd_status st = nnd_preprocess_image(resolved, decoded, out, out_count, NULL, &local);
  if (st == NND_OK) return NND_OK;
  return nnd_error_set(err, st, "%s%s%s: cannot preprocess this %lldx%lld image: %s", ds->root,
                       *ds->root ? "/" : "", ds->names[index],
                       decoded ? (long long)decoded->width : 0LL,
                       decoded ? (long long)decoded->height : 0LL, local.message);
}

nnd_status nnd_dataset_decode(nnd_dataset *ds, size_t index, nnd_image *out, nnd_item_info *info,
                              nnd_error *err) {
  memset(out, 0, sizeof *out);
  if (ds->kind != NND_DATASET_IMAGES)
    return nnd_error_set(err, NND_ERR_USAGE, "%s: a tensor dataset holds no images to decode",
                         ds->path);
  nnd_item_info tmp_info;
  nnd_status st = nnd_dataset_item(ds, index, info ? info : &tmp_info, err);
  if (st) return st;
  real_index(ds, index, &index, err); /* in range: nnd_dataset_item checked it */
  char *full = NULL;
  const char *file = ds->names[index];
  if (*ds->root) {
    if (asprintf(&full, "%s/%s", ds->root, ds->names[index]) < 0)
      return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    file = full;
  }
  st = nnd_image_load(file, ds->max_pixels, out, err);
  free(full);
  return st;
}

size_t nnd_dataset_describe(const nnd_dataset *ds, char *buf, size_t cap) {
  int n;
  if (ds->kind == NND_DATASET_TENSOR) {
    char shape[160];
    static const char *const dnames[] = {"bool",   "int8",    "int16",   "int32",
                                         "int64",  "uint8",   "uint16",  "uint32",
                                         "uint64", "float16", "float32", "float64"};
    describe_shape(&ds->item_shape, shape, sizeof shape);
    n = snprintf(buf, cap, "tensor: %s [%zu%s%s] %s%s, taken as preprocessed", ds->tensor_label,
                 ds->count, ds->item_shape.rank ? "," : "", shape, dnames[ds->info.dtype],
                 ds->info.dtype == NND_NPY_F32 ? "" : " converted to float32");
  } else if (!*ds->root) {
    n = snprintf(buf, cap, "image: %s", ds->names[0]);
  } else {
    n = snprintf(buf, cap, "images: %s (%zu JPEG/PNG files", ds->root, ds->count);
  }
  size_t len = n > 0 ? (size_t)n : 0;
  if (ds->kind == NND_DATASET_IMAGES && *ds->root) {
    n = snprintf(len < cap ? buf + len : NULL, len < cap ? cap - len : 0, ")");
    if (n > 0) len += (size_t)n;
  }
  if (ds->labels) {
    n = snprintf(len < cap ? buf + len : NULL, len < cap ? cap - len : 0,
                 "; labels %s: %zu of %zu items labelled", ds->labels_path, ds->labelled,
                 ds->count);
  } else {
    n = snprintf(len < cap ? buf + len : NULL, len < cap ? cap - len : 0, "; no labels");
  }
  if (n > 0) len += (size_t)n;
  return len;
}

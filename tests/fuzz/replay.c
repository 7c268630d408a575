/* replay.c -- runs a fuzz target over corpus files (the "fuzz" meson test suite)
 *
 * Usage: fuzz_x_replay PATH... ; a PATH may be a file or a directory of files. A crash or a
 * sanitizer abort fails the test; so does an empty corpus.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t buf[1 << 20];

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t len;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	return 1;
}

static int replay(const char *path)
{
	struct stat st;
	struct dirent *e;
	DIR *d;
	int n = 0;

	if (stat(path, &st) != 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path);
	if ((d = opendir(path)) == NULL) {
		perror(path);
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		char full[4096];
		int r;

		if (e->d_name[0] == '.')
			continue;
		snprintf(full, sizeof(full), "%s/%s", path, e->d_name);
		if ((r = replay(full)) < 0) {
			closedir(d);
			return -1;
		}
		n += r;
	}
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	int n = 0;

	for (int i = 1; i < argc; i++) {
		int r = replay(argv[i]);

		if (r < 0)
			return 1;
		n += r;
	}
	printf("replayed %d inputs\n", n);
	return n > 0 ? 0 : 1;
}

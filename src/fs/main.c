/* kratixfs-daemon: the mount. `kratixfs MOUNTPOINT` execs it, keeping argv. */
#include "fs.h"

int main(int argc, char **argv)
{
	return kfs_daemon_main(argc, argv);
}

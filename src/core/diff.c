#include "kratixfs/diff.h"

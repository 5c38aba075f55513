#include "kratixfs/status.h"

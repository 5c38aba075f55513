#include "kratixfs/promise.h"

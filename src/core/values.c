#include "kratixfs/values.h"

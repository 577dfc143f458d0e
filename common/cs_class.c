#include "cs_class.h"

const char *cs_class_name(cs_class c)
{
    switch (c) {
    case CS_CLASS_OK: return "ok";
    case CS_CLASS_TRANSIENT: return "transient";
    case CS_CLASS_THROTTLE: return "throttle";
    case CS_CLASS_AUTH: return "auth";
    case CS_CLASS_BAD_ITEM: return "bad_item";
    case CS_CLASS_REFUSED: return "refused";
    case CS_CLASS_TOO_LARGE: return "too_large";
    }
    return "?";
}

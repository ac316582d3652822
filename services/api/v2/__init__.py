"""The v2 dialect: Revnue's /api/v2/ asset API (Django REST framework conventions) over the same
data as v1."""

"""Admin of members: scoped lists with filters, forms and actions that call the services.

Django autodiscovers ``members.admin``: importing this package registers every admin below
(one module per sub-domain)."""
from . import accounts, enrolment, identities, offsite, persons, subsidies  # noqa: F401 - registers the admins
from .common import CLERK, CurrentIdentityFilter, ServiceFormMixin  # noqa: F401

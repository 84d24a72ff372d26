"""``{% load yibao %}``: ``{{ amount|money }}`` → ``1,659,025.51``, ``{{ rate|percent }}`` →
``100%``, ``{{ n|count }}`` → ``12,345``, ``{{ value|zh_label:"procurement.payment_days" }}``."""
from django import template

from .. import formatting

register = template.Library()


@register.filter
def money(value):
    return formatting.format_money(value)


@register.filter
def percent(value):
    return formatting.format_percent(value)


@register.filter(name="count")
def count_filter(value):
    return formatting.format_count(value)
